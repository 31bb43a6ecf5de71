"""`serve --demo` content: users, a team, a public and an embargoed volume; works without ../shared."""

from pathlib import Path

import pytest

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.demo import seed_demo
from datalabs.storage.datasets import DatasetService
from datalabs.storage.files import FileService

from tests.conftest import SHARED_PDS


def visible_to(db, name):
    user = AccountService(db).user(name)
    return sorted(d.name for d in DatasetService(db).visible(Actor.of(user)))


def test_demo_seeds_users_team_and_volumes_idempotently(settings, db):
    report = seed_demo(db, settings)
    seed_demo(db, settings)  # a second start changes nothing and does not fail
    assert "alice" in report and "alice-demo-pass" in report
    assert AccountService(db).authenticate("alice", "alice-demo-pass") is not None
    assert visible_to(db, "alice") == ["pds-samples", "rosetta-osiris"]
    assert visible_to(db, "carol") == ["pds-samples"]
    assert [d.name for d in DatasetService(db).visible(None)] == ["pds-samples"]


@pytest.mark.skipif(not SHARED_PDS.is_dir(), reason="needs ../shared/testdata/pds")
def test_demo_volumes_split_the_shared_data_without_leaking_the_embargoed_part(settings, db):
    seed_demo(db, settings)
    files = FileService(db, settings)
    carol = Actor.of(AccountService(db).user("carol"))
    public = [e.name for e in files.list(carol, "data/pds-samples/pds3")]
    assert "cassini_iss" in public and "rosetta_osiris_nac" not in public
    alice = Actor.of(AccountService(db).user("alice"))
    osiris = [e.name for e in files.list(alice, "data/rosetta-osiris")]
    assert "expected_values_osiris_zoo.csv" in osiris


def test_demo_generates_a_synthetic_volume_without_shared_data(settings, db, tmp_path):
    settings = settings.model_copy(update={"demo_source": tmp_path / "absent"})
    seed_demo(db, settings)
    files = FileService(db, settings)
    alice = Actor.of(AccountService(db).user("alice"))
    labels = [e.name for e in files.list(alice, "data/pds-samples/pds3/synthetic_camera") if e.name.endswith(".LBL")]
    assert len(labels) == 5
    label = Path(DatasetService(db).get("pds-samples", alice).path, "pds3/synthetic_camera", labels[0]).read_text()
    assert label.startswith("PDS_VERSION_ID       = PDS3") and label.rstrip().endswith("END")
    assert any(e.name.endswith(".xml") for e in files.list(alice, "data/pds-samples/pds4/synthetic_spectrometer"))
    assert [e.name for e in files.list(alice, "data/rosetta-osiris/pds3/rosetta_osiris_nac")][0].endswith(".IMG")


def test_demo_publishes_the_shipped_example_datalabs(settings, db):
    from datalabs.catalogue.service import CatalogueService

    report = seed_demo(db, settings)
    seed_demo(db, settings)  # idempotent
    catalogue = CatalogueService(db, settings)
    shown = {d.name: v for d, v in catalogue.catalogue(None)}
    assert set(shown) == {"aladin", "jupyterlab", "psa-lab", "topcat"}
    assert all(v.state == "published" for v in shown.values())
    assert shown["topcat"].kind == "desktop" and "psa-lab" in report


def test_demo_publishes_the_shipped_example_pipelines_as_system_pipelines(settings, db):
    from datalabs.pipelines.service import PipelineService

    message = seed_demo(db, settings)
    seed_demo(db, settings)  # a second start leaves them as they are
    shown = {p.name: (p, v) for p, v in PipelineService(db, settings).catalogue(None)}
    expected = {"simple", "timestamp", "hello-pipeman", "cdr-demo", "scatter-gather", "pds-quicklook"}
    assert expected <= set(shown)
    for name in expected:
        pipeline, version = shown[name]
        assert pipeline.official and version.state == "published" and len(pipeline.versions) == 1
    assert shown["pds-quicklook"][1].environments == ["psa-lab"]
    assert shown["scatter-gather"][0].kind == "pipeline" and shown["simple"][0].kind == "step"
    assert "Pipelines in the catalogue:" in message


def test_demo_indexes_the_volumes_labels_and_defines_the_osiris_table(settings, db, tmp_path):
    from datalabs.archive.search import ProductSearch, SearchRequest

    settings = settings.model_copy(update={"demo_source": tmp_path / "absent"})  # the synthetic volumes
    report = seed_demo(db, settings)
    assert "mapped.osiris" in report
    search = ProductSearch(db)
    alice = Actor.of(AccountService(db).user("alice"))
    carol = Actor.of(AccountService(db).user("carol"))
    everything = search.search(alice, SearchRequest(limit=100))
    assert everything["summary"]["hits"] >= 9  # 5 + 1 attached + 3 PDS4 public, 5 embargoed
    assert search.search(carol, SearchRequest(q='INSTRUMENT_ID eq "OSINAC"', volume="pds-samples",
                                              limit=100))["summary"]["hits"] == 5
    osiris_for_carol = search.search(carol, SearchRequest(q="exists PRODUCT_ID", limit=100))
    assert all(item["volume"] == "pds-samples" for item in osiris_for_carol["data"])
    seed_demo(db, settings)  # a second start does not scan again
    from datalabs.archive.models import ArchiveScan

    assert db.query(ArchiveScan).count() == 2
