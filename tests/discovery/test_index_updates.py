"""The index follows the platform: assets appear, change and go with the changes made through the API, in
the same transaction; an embargo opens on its release date with no step; `datalabs discover reindex`
rebuilds it; a server on a database from before the index builds it at start-up."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete, func, select

from datalabs.discovery.models import DiscoveryAsset, DiscoveryFacetValue
from datalabs.discovery.search import DiscoverySearch, SearchRequest
from tests.discovery.test_search_api import MDIS, keys, search


def test_publishing_withdrawing_and_changing_a_datalab_update_the_index(world, client, auth):
    assert "datalab:secret-lab" not in keys(search(client, per_page=100))
    root = auth("root")
    assert client.post("/api/v1/datalabs/secret-lab/versions/1.0.0/submit", headers=root).status_code == 200
    assert client.post("/api/v1/datalabs/secret-lab/versions/1.0.0/publish", headers=root).status_code == 200
    found = search(client, q="secret comet")
    assert keys(found) == ["datalab:secret-lab"] and found["results"][0]["open"] is True
    assert client.patch("/api/v1/datalabs/secret-lab", json={"withdrawn": True}, headers=root).status_code == 200
    assert search(client, q="secret comet")["total"] == 0
    assert keys(search(client, auth("alice"), q="secret comet")) == ["datalab:secret-lab"]  # a developer of its team
    assert keys(search(client, auth("bob"), q="secret comet")) == []
    assert keys(search(client, auth("mod"), q="secret comet")) == ["datalab:secret-lab"]


def test_volume_changes_reach_the_volume_and_its_data_sets(world, client, auth):
    root = auth("root")
    changed = client.patch("/api/v1/datasets/mdis", json={"private": False, "teams": [], "title": "MESSENGER camera archive",
                                                         "domain": "Planetary Science"}, headers=root)
    assert changed.status_code == 200, changed.text
    opened = search(client, q="messenger camera archive")
    assert keys(opened)[0] == "volume:mdis"  # its new title ranks it first
    assert opened["results"][0]["facets"]["thematic_area"] == ["Planetary Science"]
    assert MDIS in keys(search(client, q="mercury dual imaging"))
    assert client.patch("/api/v1/datasets/mdis", json={"private": True, "teams": ["mars"]}, headers=root).status_code == 200
    assert search(client, q="mercury dual imaging")["total"] == 0
    assert client.delete("/api/v1/datasets/mdis", headers=root).status_code == 204
    assert search(client, root, q="mercury dual imaging")["total"] == 0  # gone for everyone, data sets too
    assert "volume:mdis" not in keys(search(client, root, per_page=100))


def test_an_embargo_opens_on_its_release_date(world, client, auth, session_factory):
    release = date.today() + timedelta(days=30)
    assert client.patch("/api/v1/datasets/mdis", json={"release_date": release.isoformat()},
                        headers=auth("root")).status_code == 200
    with session_factory() as db:
        before = DiscoverySearch(db, today=lambda: release - timedelta(days=1)).search(None, SearchRequest(
            q="mercury dual imaging"))
        after = DiscoverySearch(db, today=lambda: release).search(None, SearchRequest(q="mercury dual imaging"))
    assert before.total == 0 and [h.asset.key for h in after.hits] == [MDIS]


def test_a_failed_change_leaves_the_index_as_it_was(world, client, auth, session_factory):
    with session_factory() as db:
        rows_before = db.scalar(select(func.count()).select_from(DiscoveryAsset))
    refused = client.patch("/api/v1/datasets/mdis", json={"teams": ["no-such-team"]}, headers=auth("root"))
    assert refused.status_code in (404, 422)
    assert MDIS in keys(search(client, auth("alice"), per_page=100))
    with session_factory() as db:
        assert db.scalar(select(func.count()).select_from(DiscoveryAsset)) == rows_before


def test_reindex_rebuilds_a_damaged_index_and_start_up_builds_a_missing_one(world, client, session_factory,
                                                                          settings, app):
    from click.testing import CliRunner

    from datalabs.cli import main
    from datalabs.discovery.indexer import index_if_empty

    everything = set(keys(search(client, per_page=100)))
    with session_factory() as db:
        db.execute(delete(DiscoveryFacetValue))
        db.execute(delete(DiscoveryAsset).where(DiscoveryAsset.asset_type == "pipeline"))
        db.commit()
    assert "pipeline:simple" not in keys(search(client, per_page=100))
    env = {"DATALABS_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["DATALABS_DATABASE_URL"] = settings.database_url
    result = CliRunner().invoke(main, ["discover", "reindex"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "10 assets" in result.output
    assert set(keys(search(client, per_page=100))) == everything
    assert search(client, facet="asset_type:pipeline")["total"] == 1
    with session_factory() as db:
        db.execute(delete(DiscoveryAsset))
        db.commit()
        index_if_empty(db)
        assert db.scalar(select(func.count()).select_from(DiscoveryAsset)) == 10
