"""Sessions end to end with the real parts: the local bubblewrap backend, a real uvicorn server,
the real psa-lab environment (built with uv), JupyterLab through the proxy, kernels over WebSocket."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websockets.sync.client

from datalabs.app import create_app
from datalabs.db.base import utcnow
from datalabs.execution.local import LocalBackend
from datalabs.sessions.models import LabSession
from datalabs.states import ACTIVE
from datalabs.storage.datasets import DatasetService
from tests.sessions.conftest import publish_lab
from tests.sessions.helpers import wait_for

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
SHARED_PDS = ROOT.parent / "shared" / "testdata" / "pds"
UV_CACHE = Path.home() / ".cache" / "datalabs-tests" / "uv"  # shared by runs: warm builds take seconds
LABEL = "pds3/cassini_iss/N1472853667_1.cropped.lbl"


@pytest.fixture
def app(settings):
    """The app with the real backend and environment builds (overrides the suite's fake backend)."""
    settings.backend = "local"
    settings.build_environments = True
    settings.env_cache_dir = UV_CACHE
    return create_app(settings)


@pytest.fixture(autouse=True)
def stop_leftovers(session_factory):
    yield
    backend = LocalBackend()
    with session_factory() as db:
        for session in db.query(LabSession).filter(LabSession.state.in_([s.value for s in ACTIVE])):
            if session.backend_state:
                backend.stop(session.backend_state, grace=1)


@pytest.fixture
def people(new_user, auth):
    new_user("alice")
    new_user("bob")
    return {"alice": auth("alice"), "bob": auth("bob")}


def run_code(ws_url: str, headers: dict, code: str, timeout: float = 120) -> tuple[str, list]:
    """Execute ``code`` in a kernel over its WebSocket; return its printed output and any errors."""
    msg_id = uuid.uuid4().hex
    message = {
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }
    output, errors = [], []
    with websockets.sync.client.connect(ws_url, additional_headers=headers, open_timeout=30) as ws:
        ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = json.loads(ws.recv(timeout=timeout))
            if reply.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = reply["msg_type"]
            if kind == "stream":
                output.append(reply["content"]["text"])
            elif kind == "error":
                errors.append(reply["content"]["evalue"])
            elif kind == "execute_reply":
                return "".join(output), errors
    raise AssertionError("no execute_reply in time")


def open_kernel(http, live_server: str, base: str, headers: dict) -> tuple[str, str]:
    """Open the lab page (its ``_xsrf`` cookie) and start a kernel through the proxy: its WebSocket URL and the
    XSRF token."""
    assert http.get(base + "lab", headers=headers).status_code == 200
    xsrf = http.cookies.get("_xsrf")
    kernel = http.post(base + "api/kernels", json={"name": "python3"}, headers={**headers, "X-XSRFToken": xsrf})
    assert kernel.status_code == 201, kernel.text
    return live_server.replace("http://", "ws://") + base + f"api/kernels/{kernel.json()['id']}/channels", xsrf


@pytest.mark.skipif(not SHARED_PDS.is_dir(), reason="needs ../shared/testdata")
def test_psa_lab_reads_a_volume_with_pdr_and_writes_to_the_workspace(app, live_server, settings, session_factory,
                                                                     people, tmp_path, db):
    package = tmp_path / "psa-lab"
    shutil.copytree(ROOT / "examples" / "datalabs" / "psa-lab", package)
    publish_lab(settings, session_factory, package, "psa-lab", meta="keep", builder=app.state.env_builder)
    DatasetService(db).register("pds", SHARED_PDS)
    alice, bob = people["alice"], people["bob"]
    with httpx.Client(base_url=live_server, timeout=60) as http:
        created = http.post("/api/v1/sessions", json={"datalab": "psa-lab", "volumes": ["pds"], "memory": "2G"},
                            headers=alice)
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        wait_for(http, session_id, alice, timeout=600)
        base = f"/datalabs/{session_id}/"
        status = http.get(base + "api/status", headers=alice)
        assert status.status_code == 200 and "kernels" in status.json()
        ws_url, xsrf = open_kernel(http, live_server, base, alice)
        code = (
            "import os, pdr\n"
            f"data = pdr.read('/media/data/pds/{LABEL}')\n"
            "product = data.metaget('PRODUCT_ID')\n"
            "open('/media/my_workspace/from-kernel.txt', 'w').write(product)\n"
            "print('product', product)\n"
            "try:\n    open('/media/data/pds/evil.txt', 'w')\nexcept OSError as error:\n"
            "    print('volume errno', error.errno)\n"
            "print('user', os.environ['USER'], os.environ['DATALAB_ID'], os.environ['IF_main_port'])\n"
        )
        output, errors = run_code(ws_url, {**alice, "Cookie": f"_xsrf={xsrf}"}, code)
        assert errors == []
        assert "product 1_N1472853667.118" in output
        assert "volume errno 30" in output  # EROFS: the volume is read-only
        assert f"user alice {session_id} 8888" in output
        # a JupyterLab whose kernel is busy is not idle, however long ago its last request was
        with websockets.sync.client.connect(ws_url, additional_headers={**alice, "Cookie": f"_xsrf={xsrf}"}) as ws:
            busy = {"header": {"msg_id": uuid.uuid4().hex, "username": "t", "session": uuid.uuid4().hex,
                               "msg_type": "execute_request", "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": "import time; time.sleep(5)", "silent": False, "store_history": False,
                                "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}
            ws.send(json.dumps(busy))
            time.sleep(1)
            row = db.get(LabSession, session_id)
            db.refresh(row)
            row.last_activity_at = row.started_at = row.started_at - timedelta(days=1)
            app.state.supervisor.activity.pop(session_id, None)
            from datalabs.execution.contract import Address

            seen = app.state.supervisor._last_activity(row, Address(**row.address))
            assert (utcnow() - seen).total_seconds() < 5
            db.rollback()
        written = settings.workspaces_dir / "users" / "alice" / "from-kernel.txt"
        assert written.read_text() == "1_N1472853667.118"
        assert not (SHARED_PDS / "evil.txt").exists()
        # someone else: 404 on the page, the API and the kernel's WebSocket
        assert http.get(base + "api/status", headers=bob).status_code == 404
        assert http.get(f"/api/v1/sessions/{session_id}", headers=bob).status_code == 404
        with pytest.raises(websockets.InvalidStatus):
            websockets.sync.client.connect(ws_url, additional_headers=bob, open_timeout=10)
        # a WebSocket opened from another site is refused even with the owner's credentials
        with pytest.raises(websockets.InvalidStatus):
            websockets.sync.client.connect(ws_url, additional_headers=alice, origin="http://evil.example",
                                           open_timeout=10)
        state = db.get(LabSession, session_id).backend_state
        backend = LocalBackend()
        assert backend.pids(state)
        assert http.delete(f"/api/v1/sessions/{session_id}", headers=alice).status_code == 200
        wait_for(http, session_id, alice, states=("stopped",), timeout=30)
        assert backend.pids(state) == []
        log = http.get(f"/api/v1/sessions/{session_id}/logs", headers=alice).text
        assert "Jupyter Server" in log  # the log is kept after the end


def _serve(settings, port: int, log_file) -> "subprocess.Popen":
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATALABS_DATA_DIR": str(settings.data_dir), "DATALABS_SECRET_KEY": "test-secret",
           "DATALABS_BACKEND": "local", "DATALABS_BUILD_ENVIRONMENTS": "false", "DATALABS_PORT": str(port)}
    if settings.database_url:
        env["DATALABS_DATABASE_URL"] = settings.database_url
    return subprocess.Popen([sys.executable, "-m", "datalabs", "serve"], env=env, stdout=log_file,
                            stderr=subprocess.STDOUT)


def _wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start")


def test_a_session_survives_kill_9_of_the_server(settings, session_factory, people, tmp_path, db):
    from tests.conftest import _free_port

    publish_lab(settings, session_factory, tmp_path / "tiny", "tiny")
    alice = people["alice"]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "ab") as log_file:
        server = _serve(settings, port, log_file)
        try:
            _wait_healthy(url)
            with httpx.Client(base_url=url, timeout=30) as http:
                session_id = http.post("/api/v1/sessions", json={"datalab": "tiny"}, headers=alice).json()["id"]
                wait_for(http, session_id, alice)
                assert http.get(f"/datalabs/{session_id}/", headers=alice).status_code == 200
        finally:
            server.kill()  # kill -9: no shutdown, no cleanup
            server.wait()
        state = db.get(LabSession, session_id).backend_state
        assert LocalBackend().pids(state)  # the sandbox outlived the server
        server = _serve(settings, port, log_file)
        try:
            _wait_healthy(url)
            with httpx.Client(base_url=url, timeout=30) as http:
                page = http.get(f"/datalabs/{session_id}/", headers=alice)
                assert page.status_code == 200 and "Directory listing" in page.text
                events = http.get(f"/api/v1/sessions/{session_id}/events", headers=alice).json()
                assert "adopted again after a server restart" in [e["message"] for e in events]
                http.delete(f"/api/v1/sessions/{session_id}", headers=alice)
                wait_for(http, session_id, alice, states=("stopped",))
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert LocalBackend().pids(state) == []


def test_a_session_over_its_memory_limit_is_stopped_and_the_user_told_why(app, live_server, settings,
                                                                        session_factory, people, tmp_path):
    if LocalBackend().cgroups is None:
        pytest.skip("no writable cgroup hierarchy on this machine")
    command = ("[sh, -c, 'python3 -m http.server {port} --bind 127.0.0.1 & sleep 2; "
               "python3 -c \"b = bytearray(800 * 2**20)\"; wait']")
    publish_lab(settings, session_factory, tmp_path / "hungry", "hungry", command=command)
    alice = people["alice"]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        session_id = http.post("/api/v1/sessions", json={"datalab": "hungry", "memory": "256M"},
                               headers=alice).json()["id"]
        body = wait_for(http, session_id, alice, states=("failed",), timeout=60)
    assert body["reason"] == ("stopped: the session went over its memory limit of 256.0 MiB; "
                              "launch it with more memory or use less")


@pytest.mark.parametrize("report, state, reason", [
    ("finished", "stopped", "the datalab reported it finished"),
    ('error "no calibration files"', "failed", "the datalab reported an error: no calibration files"),
])
def test_a_datalab_reports_its_own_end(app, live_server, settings, session_factory, people, tmp_path, report,
                                       state, reason):
    command = (f"[sh, -c, 'python3 -m http.server {{port}} --bind 127.0.0.1 & sleep 2; datalab-status {report}; "
               "wait']")
    publish_lab(settings, session_factory, tmp_path / "reporting", "reporting", command=command)
    alice = people["alice"]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        session_id = http.post("/api/v1/sessions", json={"datalab": "reporting"}, headers=alice).json()["id"]
        body = wait_for(http, session_id, alice, states=(state,), timeout=60)
    assert body["reason"] == reason
