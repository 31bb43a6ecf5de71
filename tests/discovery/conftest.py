"""Discovery fixtures: a small platform's worth of assets.

- ``scan_volume``: from tests/archive (register a folder of real labels as a volume and scan it).
- ``world``: users alice (developer, in team 'mars'), bob (user), mod (moderator), root (admin); datalab
  'psa-lab' published, 'secret-lab' an unpublished draft of team 'mars'; pipeline 'simple' published;
  volumes 'insight' (public, scanned: the InSight RAD PDS4 bundle) and 'mdis' (embargoed for team 'mars',
  scanned: MESSENGER MDIS PDS3 labels with their data set catalogue file). Imports are root's (folders on
  the server are admins'); 'secret-lab' belongs to team 'mars'.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.catalogue.service import CatalogueService
from datalabs.pipelines.service import PipelineService
from tests.archive.conftest import SHARED_PDS, needs_shared, scan_volume  # noqa: F401 - a fixture

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def actor(db, name: str) -> Actor:
    return Actor.of(AccountService(db).user(name))


@pytest.fixture
def world(new_user, session_factory, scan_volume, settings, tmp_path):  # noqa: F811
    needs_shared()
    for name, role in (("alice", "developer"), ("bob", "user"), ("mod", "moderator"), ("root", "admin")):
        new_user(name, role=role)
    with session_factory() as db:
        accounts = AccountService(db)
        accounts.create_team("mars")
        accounts.add_member("mars", "alice", admin=True)
        db.commit()
        catalogue = CatalogueService(db, settings, start_builds=False)
        catalogue.import_folder(actor(db, "root"), EXAMPLES / "datalabs" / "psa-lab")
        catalogue.submit(actor(db, "root"), "psa-lab", "1.0.0")
        catalogue.publish(actor(db, "mod"), "psa-lab", "1.0.0")
        secret = tmp_path / "secret-lab"
        shutil.copytree(EXAMPLES / "datalabs" / "jupyterlab", secret)
        meta = secret / "datalab-meta.yml"
        meta.write_text(meta.read_text().replace("alternateName: jupyterlab", "alternateName: secret-lab")
                        .replace("title: JupyterLab", "title: Secret comet lab"))
        catalogue.import_folder(actor(db, "root"), secret, team="mars")
        pipelines = PipelineService(db, settings)
        pipelines.import_folder(actor(db, "root"), EXAMPLES / "pipelines" / "simple")
        pipelines.submit(actor(db, "root"), "simple", "1.0.0")
        pipelines.publish(actor(db, "root"), "simple", "1.0.0")
    scan_volume("insight", SHARED_PDS / "pds4" / "insight_rad_bundle")
    scan_volume("mdis", SHARED_PDS / "pds3" / "messenger_mdis", private=True, teams=["mars"])
