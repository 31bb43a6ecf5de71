"""`datalabs lab launch|sessions|session|logs|renew|stop` against a real server running the fake backend."""

import json
import threading
import time

import httpx
import pytest
from click.testing import CliRunner

from datalabs.app import create_app
from datalabs.cli import main
from tests.sessions.conftest import publish_lab


@pytest.fixture
def app(settings):
    """The live server's app; the sessions it made are stopped when it shuts down."""
    return create_app(settings.model_copy(update={"stop_sessions_on_shutdown": True}))


@pytest.fixture
def tiny(settings, session_factory, tmp_path):
    return publish_lab(settings, session_factory, tmp_path / "pkg")


@pytest.fixture
def alice(new_user, token_for):
    new_user("alice")
    return token_for("alice")


def run(live_server, token, *args):
    return CliRunner().invoke(main, ["lab", *args, "--url", live_server, "--token", token])


def launched(live_server, token, *args) -> dict:
    result = run(live_server, token, "launch", "tiny", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_launch_waits_until_running_and_prints_the_url(live_server, tiny, alice):
    result = run(live_server, alice, "launch", "tiny", "--cpu", "1", "--memory", "512M")
    assert result.exit_code == 0, result.output
    listed = json.loads(run(live_server, alice, "sessions", "--json").stdout)
    assert len(listed) == 1
    session = listed[0]
    assert session["state"] == "running" and session["cpu"] == 1 and session["memory"] == 512 * 1024**2
    assert f"{live_server}/datalabs/{session['id']}/" in result.stdout
    assert "is running" in result.stdout
    assert "accepted" in result.stderr and "[100%] running" in result.stderr  # the steps, when not on a terminal

    table = run(live_server, alice, "sessions")
    assert table.exit_code == 0 and session["id"] in table.stdout and "running" in table.stdout
    shown = run(live_server, alice, "session", session["id"], "--events")
    assert shown.exit_code == 0 and "running" in shown.stdout and "accepted" in shown.stdout

    logs = run(live_server, alice, "logs", session["id"])
    assert logs.exit_code == 0 and f"fake start of {session['id']}" in logs.stdout

    renewed = run(live_server, alice, "renew", session["id"], "--json")
    assert renewed.exit_code == 0 and json.loads(renewed.stdout)["expires_at"]

    stopped = run(live_server, alice, "stop", session["id"], "--wait")
    assert stopped.exit_code == 0 and "stopped (destroyed by you)" in stopped.stdout
    assert json.loads(run(live_server, alice, "sessions", "--json").stdout) == []
    ended = json.loads(run(live_server, alice, "sessions", "--all", "--json").stdout)
    assert [(s["id"], s["state"], s["reason"]) for s in ended] == [(session["id"], "stopped", "destroyed by you")]
    again = run(live_server, alice, "renew", session["id"])
    assert again.exit_code == 1 and "has ended; launch a new one" in again.output


def test_launch_json_and_no_wait(live_server, tiny, alice):
    session = launched(live_server, alice, "--no-team-workspaces")
    assert session["state"] == "running" and session["team_workspaces"] == []
    pending = launched(live_server, alice, "--no-wait")
    assert pending["state"] == "pending"
    destroyed = run(live_server, alice, "destroy", pending["id"], "--json")
    assert destroyed.exit_code == 0 and json.loads(destroyed.stdout)["state"] in ("stopping", "stopped")


def test_logs_follow_ends_when_the_session_is_stopped(live_server, tiny, alice):
    session = launched(live_server, alice)

    def destroy():
        time.sleep(1.0)
        httpx.delete(f"{live_server}/api/v1/sessions/{session['id']}", headers={"Authorization": f"Bearer {alice}"})

    stopper = threading.Thread(target=destroy)
    stopper.start()
    began = time.monotonic()
    followed = run(live_server, alice, "logs", session["id"], "--follow")
    stopper.join()
    assert followed.exit_code == 0, followed.output
    assert f"fake start of {session['id']}" in followed.stdout
    assert 0.9 < time.monotonic() - began < 20
    state = json.loads(run(live_server, alice, "session", session["id"], "--json").stdout)["state"]
    assert state == "stopped"


def test_the_session_limit_is_refused_with_its_message(live_server, tiny, alice):
    launched(live_server, alice, "--no-wait")
    launched(live_server, alice, "--no-wait")
    refused = run(live_server, alice, "launch", "tiny")
    assert refused.exit_code == 1
    assert "the most allowed (2): destroy one before launching another" in refused.output
    assert len(json.loads(run(live_server, alice, "sessions", "--json").stdout)) == 2


def test_bad_resources_and_unknown_ids_give_clear_messages(live_server, tiny, alice):
    bad = run(live_server, alice, "launch", "tiny", "--memory", "lots")
    assert bad.exit_code == 2 and "'lots' is not a size: write e.g. 4G" in bad.output
    too_much = run(live_server, alice, "launch", "tiny", "--memory", "2G")
    assert too_much.exit_code == 1 and "memory must be between 64M and 1.0 GiB" in too_much.output
    too_many = run(live_server, alice, "launch", "tiny", "--cpu", "3")
    assert too_many.exit_code == 1 and "cpu must be between 0.1 and 2" in too_many.output
    unknown_lab = run(live_server, alice, "launch", "nope")
    assert unknown_lab.exit_code == 1 and "nope" in unknown_lab.output
    assert json.loads(run(live_server, alice, "sessions", "--json").stdout) == []

    for command in ("session", "logs", "stop", "renew"):
        missing = run(live_server, alice, command, "s_0123456789abcdef")
        assert missing.exit_code == 1 and "no session 's_0123456789abcdef'" in missing.output, command
    followed = run(live_server, alice, "logs", "nonsense", "--follow")
    assert followed.exit_code == 1 and "no session 'nonsense'" in followed.output


def test_someone_elses_session_is_not_found(live_server, tiny, alice, new_user, token_for):
    session = launched(live_server, alice)
    new_user("bob")
    bob = token_for("bob")
    for command in ("session", "logs", "stop"):
        result = run(live_server, bob, command, session["id"])
        assert result.exit_code == 1 and "no session" in result.output, command
    assert json.loads(run(live_server, bob, "sessions", "--everyone", "--json").stdout) == []


def test_a_failed_launch_prints_its_reason_and_exits_1(live_server, tiny, alice, app):
    from datalabs.execution.fake import FakeBackend

    app.state.backend = app.state.supervisor.backend = FakeBackend(behaviour="fail")
    result = run(live_server, alice, "launch", "tiny")
    assert result.exit_code == 1
    assert "failed: " in result.output and "refuses to start" in result.output
