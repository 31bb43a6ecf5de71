"""The notebook client: ADQL and q= queries as pandas DataFrames with datalabs_path, against a live server,
with a token (outside) or through the platform socket a datalab session has (inside)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from datalabs.archive import Archive, ArchiveError
from tests.archive.conftest import OSIRIS, OSIRIS_MAPPING, needs_shared


@pytest.fixture
def osiris_server(scan_volume, live_server, make_user, token_for):
    needs_shared()
    make_user("alice", teams={"rosetta": False})
    make_user("bob")
    scan_volume("osiris", OSIRIS, private=True, teams=("rosetta",), mapping=OSIRIS_MAPPING.read_text())
    return live_server


def test_adql_and_q_queries_come_back_as_dataframes_ready_for_pdr(osiris_server, token_for):
    archive = Archive(osiris_server, token_for("alice"))
    frame = archive.query("SELECT filename, distance, datalabs_path FROM mapped.osiris WHERE distance < 50 "
                          "ORDER BY filename")
    assert len(frame) == 12 and list(frame.columns) == ["filename", "distance", "datalabs_path"]
    assert frame["distance"].dtype.kind == "f"
    assert frame["datalabs_path"][0] == f"/media/data/osiris/{frame['filename'][0]}"
    found = archive.search('PHASE_ANGLE gt 90', fields=["PHASE_ANGLE", "START_TIME"], page_size=5)
    assert len(found) > 5 and (found["PHASE_ANGLE"] > 90).all()  # several pages, joined
    assert found["datalabs_path"].str.startswith("/media/data/osiris/").all()
    product = archive.product(found["identifier"][0])
    assert product["attributes"]["PHASE_ANGLE"] == found["PHASE_ANGLE"][0]


def test_errors_are_raised_with_the_services_message(osiris_server, token_for):
    archive = Archive(osiris_server, token_for("alice"))
    with pytest.raises(ArchiveError, match="line 1"):
        archive.query("SELECT FROM WHERE")
    with pytest.raises(ArchiveError, match="position"):
        archive.search("PHASE_ANGLE equals 3")


def test_embargoed_products_need_the_right_token(osiris_server, token_for):
    assert Archive(osiris_server, token_for("bob")).search("exists PRODUCT_ID").empty
    assert Archive(osiris_server).query("SELECT COUNT(*) AS n FROM archive.products")["n"][0] == 0
    assert len(Archive(osiris_server, token_for("alice")).search("exists PRODUCT_ID")) == 35


def test_inside_a_session_the_client_goes_through_the_platform_socket(osiris_server, token_for, tmp_path,
                                                                      monkeypatch):
    if shutil.which("socat") is None:
        pytest.skip("socat is installed by scripts/setup")
    socket_path = tmp_path / "platform.sock"
    port = osiris_server.rsplit(":", 1)[1]
    bridge = subprocess.Popen(["socat", f"UNIX-LISTEN:{socket_path},fork", f"TCP:127.0.0.1:{port}"])
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("DATALABS_URL", "http://datalabs")  # as a session's environment says
        monkeypatch.setenv("DATALABS_API_SOCKET", str(socket_path))
        monkeypatch.setenv("DATALABS_TOKEN", token_for("alice"))
        frame = Archive().query("SELECT TOP 3 identifier, datalabs_path FROM archive.products")
        assert len(frame) == 3
    finally:
        bridge.terminate()
        bridge.wait()


def test_a_read_only_token_like_a_sessions_may_query(osiris_server, token_for):
    archive = Archive(osiris_server, token_for("alice", scopes=["read"]))
    assert len(archive.query("SELECT identifier FROM archive.products")) == 35  # POST /tap/sync is a read
