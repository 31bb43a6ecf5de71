"""A session calls the platform's API as its user: the token made for it, the environment that carries
it, its revocation at the end, and (local backend) the platform socket in the control folder."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from datalabs.accounts import secrets
from datalabs.accounts.models import ApiToken
from datalabs.app import create_app
from datalabs.db.base import utcnow
from datalabs.execution.contract import Address, LaunchSpec, Mount, Phase
from datalabs.execution.fake import FakeBackend
from datalabs.execution.local import LocalBackend, process_start_time
from datalabs.sessions.models import LabSession
from datalabs.sessions.spec import platform_address
from datalabs.states import ACTIVE
from tests.conftest import in_process_client
from tests.sessions.conftest import publish_lab
from tests.sessions.helpers import wait_for


class RecordingBackend(FakeBackend):
    """The fake backend, keeping the launch specs it was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.specs: list[LaunchSpec] = []

    def start(self, spec: LaunchSpec) -> dict:
        self.specs.append(spec)
        return super().start(spec)


@pytest.fixture
def people(new_user, auth):
    new_user("alice")
    new_user("bob")
    return {"alice": auth("alice"), "bob": auth("bob")}


def _launch(http, headers, datalab="tiny") -> str:
    created = http.post("/api/v1/sessions", json={"datalab": datalab}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def _session_tokens(db, session_id: str) -> list[ApiToken]:
    db.expire_all()
    return list(db.scalars(select(ApiToken).where(ApiToken.name == f"session {session_id}")))


# -- any backend: the token and the environment ---------------------------------------------------


def test_a_session_gets_a_read_token_of_its_user_in_its_environment_only(running_app, tiny_lab, people, db):
    backend = RecordingBackend()
    app = running_app(backend)
    alice = people["alice"]
    with in_process_client(app) as http:
        session_id = _launch(http, alice)
        wait_for(http, session_id, alice)
        env = backend.specs[-1].env
        assert env["DATALABS_URL"] == "http://datalabs"
        assert env["DATALABS_API_SOCKET"] == "/run/datalab/platform.sock"
        secret = env["DATALABS_TOKEN"]
        assert backend.specs[-1].secret_env == {"DATALABS_TOKEN"}
        assert secret not in repr(backend.specs[-1])
        me = http.get("/api/v1/me", headers=_bearer(secret))
        assert me.status_code == 200 and me.json()["name"] == "alice" and me.json()["scopes"] == ["read"]
        refused = http.post("/api/v1/tokens", json={"name": "forever"}, headers=_bearer(secret))
        assert refused.status_code == 403  # read only: it cannot mint a token that outlives the session
        # the secret appears in no API answer about the session, and the database keeps only its hash
        for path in ("", "/events", "/logs"):
            assert secret not in http.get(f"/api/v1/sessions/{session_id}{path}", headers=alice).text
        assert secret not in http.get("/api/v1/tokens", headers=alice).text
        [token] = _session_tokens(db, session_id)
        assert token.token_hash == secrets.digest(secret)
        assert all(secret not in str(getattr(token, column.key)) for column in ApiToken.__table__.columns)
        assert token.user.name == "alice" and token.revoked_at is None
        session = db.get(LabSession, session_id)
        assert token.expires_at == session.expires_at  # it expires with the session
        assert secret not in json.dumps(session.backend_state)
        assert http.get(f"/api/v1/sessions/{session_id}", headers=_bearer(secret)).status_code == 200
        # renewing moves the token's expiry with the session's
        token.expires_at = utcnow() + timedelta(minutes=5)
        db.commit()
        assert http.post(f"/api/v1/sessions/{session_id}/renew", headers=alice).status_code == 200
        [token] = _session_tokens(db, session_id)
        assert token.expires_at == db.get(LabSession, session_id).expires_at > utcnow() + timedelta(hours=1)
        # destroyed: the token is revoked
        assert http.delete(f"/api/v1/sessions/{session_id}", headers=alice).status_code == 200
        wait_for(http, session_id, alice, states=("stopped",))
        gone = http.get("/api/v1/me", headers=_bearer(secret))
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_token"
        assert _session_tokens(db, session_id)[0].revoked_at is not None


@pytest.mark.parametrize("behaviour", ["fail", "crash"])
def test_the_token_of_a_session_that_failed_is_revoked(running_app, tiny_lab, people, db, behaviour):
    backend = RecordingBackend(behaviour=behaviour, delay=0.0)
    app = running_app(backend)
    alice = people["alice"]
    with in_process_client(app) as http:
        session_id = _launch(http, alice)
        wait_for(http, session_id, alice, states=("failed",))
        secret = backend.specs[-1].env["DATALABS_TOKEN"]
        assert http.get("/api/v1/me", headers=_bearer(secret)).status_code == 401
    [token] = _session_tokens(db, session_id)
    assert token.revoked_at is not None


def test_the_token_of_an_expired_session_is_revoked(running_app, tiny_lab, people, db):
    backend = RecordingBackend()
    app = running_app(backend)
    alice = people["alice"]
    with in_process_client(app) as http:
        session_id = _launch(http, alice)
        wait_for(http, session_id, alice)
        session = db.get(LabSession, session_id)
        session.expires_at = utcnow() - timedelta(seconds=1)
        db.commit()
        body = wait_for(http, session_id, alice, states=("stopped",))
        assert body["reason"].startswith("expired")
        assert http.get("/api/v1/me", headers=_bearer(backend.specs[-1].env["DATALABS_TOKEN"])).status_code == 401


def test_without_a_session_lifetime_the_token_lives_until_the_session_ends(running_app, tiny_lab, people, db,
                                                                           settings):
    settings.session_lifetime_hours = 0
    backend = RecordingBackend()
    app = running_app(backend)
    alice = people["alice"]
    with in_process_client(app) as http:
        session_id = _launch(http, alice)
        wait_for(http, session_id, alice)
        [token] = _session_tokens(db, session_id)
        assert token.expires_at is None
        http.delete(f"/api/v1/sessions/{session_id}", headers=alice)
        wait_for(http, session_id, alice, states=("stopped",))
    assert _session_tokens(db, session_id)[0].revoked_at is not None


def test_the_platform_address_is_where_a_client_on_this_host_connects(settings):
    settings.host, settings.port = "0.0.0.0", 8123
    assert platform_address(settings) == Address(host="127.0.0.1", port=8123)
    settings.host = "::"
    assert platform_address(settings) == Address(host="::1", port=8123)
    settings.host = "10.1.2.3"
    assert platform_address(settings) == Address(host="10.1.2.3", port=8123)


# -- the local backend: the platform socket ----------------------------------------------------------

CURL_ME = ('curl -sS --unix-socket "$DATALABS_API_SOCKET" -H "Authorization: Bearer $DATALABS_TOKEN" '
           '"$DATALABS_URL/api/v1/me" > /media/home/me.json; printf %s "$DATALABS_TOKEN" > /media/home/token; ')
CALLER_LAB = f"[sh, -c, '{CURL_ME}exec python3 -m http.server {{port}} --bind 127.0.0.1']"


@pytest.fixture
def app(settings):
    """The app with the real backend (for ``live_server``; the tests above make their own)."""
    settings.backend = "local"
    return create_app(settings)


@pytest.fixture
def stop_leftovers(session_factory):
    yield
    backend = LocalBackend()
    with session_factory() as db:
        for session in db.query(LabSession).filter(LabSession.state.in_([s.value for s in ACTIVE])):
            if session.backend_state:
                backend.stop(session.backend_state, grace=1)


def _get_through(socket_path: Path, path: str, headers: dict | None = None) -> httpx.Response:
    """GET through a socket whose path may be over the 108 bytes of a socket address (pytest's temporary
    folders): by a short link to its folder."""
    with tempfile.TemporaryDirectory(dir="/tmp") as short:
        link = Path(short) / "d"
        link.symlink_to(socket_path.parent)
        transport = httpx.HTTPTransport(uds=str(link / socket_path.name))
        with httpx.Client(transport=transport, base_url="http://datalabs", timeout=10) as http:
            return http.get(path, headers=headers or {})


@pytest.mark.live
def test_inside_a_local_session_the_platform_answers_as_its_user(app, live_server, settings, session_factory,
                                                                 people, tmp_path, db, stop_leftovers):
    settings.port = int(live_server.rsplit(":", 1)[1])  # the live server's port, not the default
    publish_lab(settings, session_factory, tmp_path / "caller", "caller", command=CALLER_LAB)
    alice = people["alice"]
    with httpx.Client(base_url=live_server, timeout=30) as http:
        session_id = _launch(http, alice, "caller")
        wait_for(http, session_id, alice, timeout=60)
        control = settings.sessions_dir / session_id / "control"
        platform_socket = control / "platform.sock"
        home = settings.homes_dir / "alice"
        # inside the sandbox, curl reached /api/v1/me through /run/datalab/platform.sock with the session's token
        me = json.loads((home / "me.json").read_text())
        assert me["name"] == "alice" and me["authenticated_by"] == "token" and me["scopes"] == ["read"]
        secret = (home / "token").read_text()
        assert secret.startswith("dlt_")
        # the socket is in this session's control folder only; the host side reaches the server through it
        assert platform_socket.is_socket()
        assert _get_through(platform_socket, "/api/v1/health").status_code == 200
        assert _get_through(platform_socket, "/api/v1/me", _bearer(secret)).json()["name"] == "alice"
        state = db.get(LabSession, session_id).backend_state
        assert process_start_time(state["platform_pid"]) == state["platform_started"]
        assert secret not in json.dumps(state)
        # the secret is on no process's command line (readable by every user of the host)
        for pid in LocalBackend().pids(state):
            assert secret.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        for path in ("", "/events", "/logs"):
            assert secret not in http.get(f"/api/v1/sessions/{session_id}{path}", headers=alice).text
        # destroyed: socket and its process gone, token revoked
        assert http.delete(f"/api/v1/sessions/{session_id}", headers=alice).status_code == 200
        wait_for(http, session_id, alice, states=("stopped",), timeout=30)
        assert not platform_socket.exists()
        assert LocalBackend().pids(state) == []
        assert http.get("/api/v1/me", headers=_bearer(secret)).status_code == 401


def _spec(tmp_path: Path, port: int, command=("sleep", "60"), session_id="s_00000000000000ce") -> LaunchSpec:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return LaunchSpec(
        session_id=session_id, user="alice", command=tuple(command),
        env={"HOME": "/media/home", "PATH": "/usr/bin:/bin", "DATALABS_TOKEN": "dlt_not-on-any-command-line"},
        cpu=1, memory=256 * 1024**2, workdir="/media/home", run_dir=str(tmp_path / f"run-{session_id}"), port=8888,
        mounts=(Mount(str(home), "/media/home", True),), platform=Address(host="127.0.0.1", port=port),
        secret_env=frozenset({"DATALABS_TOKEN"}),
    )


@pytest.mark.live
def test_the_platform_socket_is_adopted_after_a_restart_and_stopped_with_the_session(tmp_path):
    with socket.socket() as listener:  # stands for the platform's port
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        state = LocalBackend().start(_spec(tmp_path, port))
        platform_socket = Path(state["platform_socket"])
        try:
            deadline = time.monotonic() + 10
            while not platform_socket.is_socket() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert platform_socket.parent == Path(state["run_dir"]) / "control"
            assert oct(platform_socket.stat().st_mode & 0o777) == "0o600"
            secret = b"dlt_not-on-any-command-line"
            assert all(secret not in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in LocalBackend().pids(state))
            restarted = LocalBackend()  # a new server: nothing in memory, only the state JSON
            assert restarted.poll(state).phase == Phase.STARTED
            assert state["platform_pid"] in restarted.pids(state)
            with tempfile.TemporaryDirectory(dir="/tmp") as short, socket.socket(socket.AF_UNIX) as client:
                (Path(short) / "d").symlink_to(platform_socket.parent)  # a socket address has 108 bytes at most
                client.connect(f"{short}/d/{platform_socket.name}")  # still forwards to the platform's port
                listener.settimeout(10)
                accepted, _ = listener.accept()
                accepted.close()
            restarted.stop(state, grace=2)
        finally:
            LocalBackend().stop(state, grace=1)
    assert restarted.pids(state) == []
    assert process_start_time(state["platform_pid"]) != state["platform_started"]
    assert not platform_socket.exists()


@pytest.mark.live
def test_a_session_started_before_the_platform_socket_is_still_adopted_and_stopped(tmp_path):
    state = LocalBackend().start(_spec(tmp_path, 1))
    old = {key: value for key, value in state.items() if not key.startswith("platform_")}
    try:
        restarted = LocalBackend()
        assert restarted.poll(old).phase == Phase.STARTED
        restarted.stop(old, grace=1)
        assert restarted.pids(old) == []
    finally:
        LocalBackend().stop(state, grace=1)


def test_secrets_are_passed_to_bwrap_through_a_pipe(tmp_path, monkeypatch):
    """Without starting anything: the command line holds ``--args FD`` after ``--clearenv``, not the secret."""
    import subprocess

    from datalabs.execution import local

    seen = {}

    class Stop(Exception):
        pass

    def fake_popen(args, **kwargs):
        seen["args"] = args
        seen["data"] = os.read(kwargs["pass_fds"][1], 4096)
        raise Stop

    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    spec = _spec(tmp_path, 1)
    Path(spec.run_dir).mkdir(parents=True)
    with pytest.raises(Stop):
        LocalBackend(cgroups=None).start_sandbox(spec, Path(spec.run_dir), "")
    args = seen["args"]
    assert not any("dlt_not-on-any-command-line" in part for part in args)
    assert args.index("--clearenv") < args.index("--args") < len(args) - len(spec.command) - 1
    assert args[len(args) - len(spec.command) - 1] == "--"
    assert seen["data"] == b"--setenv\0DATALABS_TOKEN\0dlt_not-on-any-command-line\0"
    assert local.PLATFORM_SOCKET_NAME == "platform.sock"


@pytest.mark.live
def test_after_kill_9_of_the_server_the_socket_reaches_the_next_one(settings, session_factory, people, tmp_path, db,
                                                                     stop_leftovers):
    from tests.conftest import _free_port
    from tests.sessions.test_local_sessions import _serve, _wait_healthy

    port = _free_port()
    settings.port = port
    publish_lab(settings, session_factory, tmp_path / "caller", "caller", command=CALLER_LAB)
    alice = people["alice"]
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "ab") as log_file:
        server = _serve(settings, port, log_file)
        try:
            _wait_healthy(url)
            with httpx.Client(base_url=url, timeout=30) as http:
                session_id = _launch(http, alice, "caller")
                wait_for(http, session_id, alice, timeout=60)
        finally:
            server.kill()  # kill -9: no shutdown, no cleanup
            server.wait()
        state = db.get(LabSession, session_id).backend_state
        platform_socket = Path(state["platform_socket"])
        secret = (settings.homes_dir / "alice" / "token").read_text()
        assert process_start_time(state["platform_pid"]) == state["platform_started"]  # outlived the server
        server = _serve(settings, port, log_file)
        try:
            _wait_healthy(url)
            with httpx.Client(base_url=url, timeout=30) as http:
                events = http.get(f"/api/v1/sessions/{session_id}/events", headers=alice).json()
                assert "adopted again after a server restart" in [e["message"] for e in events]
                # the same socket, the same token: the new server answers
                assert _get_through(platform_socket, "/api/v1/me", _bearer(secret)).json()["name"] == "alice"
                http.delete(f"/api/v1/sessions/{session_id}", headers=alice)
                wait_for(http, session_id, alice, states=("stopped",))
                assert http.get("/api/v1/me", headers=_bearer(secret)).status_code == 401
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert LocalBackend().pids(state) == []
    assert not platform_socket.exists()
