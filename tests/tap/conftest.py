"""TAP fixtures.

- ``tap_data``: two archive volumes with products inserted directly as ArchiveProduct rows (and their
  attribute catalogue): ``pubvol`` (public, 3 products) and ``secretvol`` (embargoed, 2 products, readable by
  team ``insiders``). Users: ``alice`` (in ``insiders``), ``bob`` (not). Returns a dict of useful names.
- ``tap_client``: an in-process client on the app with the TAP job runner started (the in-process client
  runs no lifespan), stopped afterwards.
- ``votable_of(response)``: the response body parsed by astropy.io.votable, with the QUERY_STATUS INFOs.
- ``wait_for_phase(client, url, phases, headers=None)``: poll a UWS job until its phase is one of ``phases``.
"""

from __future__ import annotations

import io
import time
import warnings

import pytest
from sqlalchemy import select

from datalabs.archive.models import ArchiveAttribute, ArchiveProduct
from datalabs.storage.models import Dataset

PUBLIC, SECRET = "pubvol", "secretvol"

PRODUCTS = {
    PUBLIC: [
        dict(identifier="PUB-1", mission="ROSETTA", instrument="OSIRIS", target="67P", start_time="2015-01-01T00:00:00",
             size=100, attributes={"EXPOSURE": 1.5, "FILTER": "RED", "IMAGE_POI.ROSETTA:X": 10}),
        dict(identifier="PUB-2", mission="ROSETTA", instrument="OSIRIS", target="67P", start_time="2015-02-01T00:00:00",
             size=200, attributes={"EXPOSURE": 2.5, "FILTER": "BLUE", "IMAGE_POI.ROSETTA:X": 20}),
        dict(identifier="PUB-3", mission="MRO", instrument="HIRISE", target="MARS", start_time="2010-05-01T00:00:00",
             size=300, attributes={"EXPOSURE": 0.5, "FILTER": "RED"}),
    ],
    SECRET: [
        dict(identifier="SECRET-1", mission="JUICE", instrument="JANUS", target="GANYMEDE",
             start_time="2031-01-01T00:00:00", size=1000, attributes={"EXPOSURE": 9.0, "SECRET_ATTR": "x"}),
        dict(identifier="SECRET-2", mission="JUICE", instrument="JANUS", target="CALLISTO",
             start_time="2031-02-01T00:00:00", size=2000, attributes={"EXPOSURE": 8.0, "SECRET_ATTR": "y"}),
    ],
}


@pytest.fixture
def tap_data(make_volume, new_user, session_factory):
    new_user("alice", teams={"insiders": False})
    new_user("bob")
    make_volume(PUBLIC)
    make_volume(SECRET, private=True, teams=["insiders"])
    with session_factory() as db:
        for volume, products in PRODUCTS.items():
            dataset = db.scalar(select(Dataset).where(Dataset.name == volume))
            for number, product in enumerate(products, start=1):
                label_path = f"data/product_{number}.lbl"
                db.add(ArchiveProduct(dataset_id=dataset.id, label_path=label_path, label_format="PDS3",
                                      data_set=f"{volume.upper()}-DS",
                                      datalabs_path=f"/media/data/{volume}/{label_path}", **product))
            names: dict[str, tuple[str, int]] = {}
            for product in products:
                for name, value in product["attributes"].items():
                    kind = "float" if isinstance(value, float) else "int" if isinstance(value, int) else "str"
                    names[name] = (kind, names.get(name, (kind, 0))[1] + 1)
            for name, (kind, count) in names.items():
                db.add(ArchiveAttribute(dataset_id=dataset.id, name=name, datatype=kind,
                                        unit="s" if name == "EXPOSURE" else "", count=count))
        db.commit()
    return {"public": PUBLIC, "secret": SECRET, "member": "alice", "outsider": "bob"}


@pytest.fixture
def tap_client(app, tap_data):
    from tests.conftest import in_process_client

    app.state.tap_runner.start()
    with in_process_client(app) as http:
        yield http
    app.state.tap_runner.shutdown(wait=True)


class Parsed:
    def __init__(self, votable, statuses: list[tuple[str, str]]) -> None:
        self.votable = votable
        self.statuses = statuses  # (value, text) of every QUERY_STATUS INFO, in document order
        self.resource = votable.resources[0]
        self.table = self.resource.tables[0] if self.resource.tables else None

    @property
    def rows(self) -> list[tuple]:
        return [tuple(row) for row in self.table.array.tolist()] if self.table is not None else []

    def column(self, name: str) -> list:
        return [value for value in self.table.array[name].tolist()]

    @property
    def field_names(self) -> list[str]:
        return [field.name for field in self.table.fields]


def _statuses(body: bytes) -> list[tuple[str, str]]:
    from xml.etree import ElementTree

    root = ElementTree.fromstring(body)
    found = []
    for element in root.iter():
        if element.tag.endswith("INFO") and element.get("name") == "QUERY_STATUS":
            found.append((element.get("value"), (element.text or "").strip()))
    return found


@pytest.fixture
def votable_of():
    from astropy.io.votable import parse

    def parsed(response) -> Parsed:
        body = response.content
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # any astropy VOTable warning is a defect of ours
            table = parse(io.BytesIO(body), verify="exception")
        return Parsed(table, _statuses(body))

    return parsed


@pytest.fixture
def wait_for_phase():
    def wait(client, url: str, phases: tuple[str, ...], headers: dict | None = None, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            phase = client.get(f"{url}/phase", headers=headers or {}).text
            if phase in phases or time.monotonic() > deadline:
                return phase
            time.sleep(0.05)

    return wait
