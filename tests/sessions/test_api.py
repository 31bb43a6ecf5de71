"""The session API with the fake backend: lifecycle, limits, refusals, the proxy's rule."""

from __future__ import annotations

import json

import pytest

from datalabs.execution.fake import FakeBackend
from datalabs.storage.datasets import DatasetService
from tests.sessions.helpers import wait_for


@pytest.fixture
def people(new_user):
    new_user("alice")
    new_user("bob")
    new_user("root", role="admin")


def launch(http, headers, **body):
    return http.post("/api/v1/sessions", json={"datalab": "tiny", **body}, headers=headers)


def test_launch_runs_and_the_owner_reaches_it_through_the_proxy(api, tiny_lab, people, auth):
    alice = auth("alice")
    created = launch(api, alice)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "pending" and body["url"] == f"/datalabs/{body['id']}/"
    assert body["cpu"] == 0.5 and body["memory"] == 256 * 1024**2
    running = wait_for(api, body["id"], alice)
    assert running["started_at"] and running["expires_at"]
    page = api.get(f"/datalabs/{body['id']}/hello?x=1", headers=alice)
    assert page.status_code == 200
    assert page.text == f"fake datalab {body['id']} at /hello?x=1\n"  # a web app without {base_url}: prefix stripped
    events = api.get(f"/api/v1/sessions/{body['id']}/events", headers=alice).json()
    assert [e["state"] for e in events][-1] == "running" and events[-1]["progress"] == 100
    assert "fake start" in api.get(f"/api/v1/sessions/{body['id']}/logs", headers=alice).text


def test_no_one_else_passes_the_proxy_not_even_an_admin(api, tiny_lab, people, auth):
    session = launch(api, auth("alice")).json()
    wait_for(api, session["id"], auth("alice"))
    for headers in (auth("bob"), auth("root"), {}):
        response = api.get(f"/datalabs/{session['id']}/", headers=headers)
        assert response.status_code == 404 and "fake datalab" not in response.text
    assert api.get(f"/api/v1/sessions/{session['id']}", headers=auth("bob")).status_code == 404
    assert api.get(f"/api/v1/sessions/{session['id']}/logs", headers=auth("bob")).status_code == 404
    assert api.delete(f"/api/v1/sessions/{session['id']}", headers=auth("bob")).status_code == 404
    # the admin may see and stop it, to run the platform
    assert api.get(f"/api/v1/sessions/{session['id']}", headers=auth("root")).status_code == 200
    everyone = api.get("/api/v1/sessions?everyone=true", headers=auth("root")).json()
    assert [s["id"] for s in everyone] == [session["id"]]
    assert api.get("/api/v1/sessions?everyone=true", headers=auth("bob")).json() == []


def test_a_read_only_token_does_not_pass_the_proxy(api, tiny_lab, people, auth, token_for):
    """Every session holds a read-only token of its user for the platform API: it must not open the user's
    other datalabs (that would run code in them)."""
    session = launch(api, auth("alice")).json()
    wait_for(api, session["id"], auth("alice"))
    read_only = {"Authorization": f"Bearer {token_for('alice', scopes=['read'])}"}
    assert api.get(f"/api/v1/sessions/{session['id']}", headers=read_only).status_code == 200  # the API: yes
    response = api.get(f"/datalabs/{session['id']}/", headers=read_only)
    assert response.status_code == 404 and "fake datalab" not in response.text
    assert api.get(f"/datalabs/{session['id']}/", headers=auth("alice")).status_code == 200


def test_anonymous_browsers_are_sent_to_log_in(api, tiny_lab, people, auth):
    session = launch(api, auth("alice")).json()
    response = api.get(f"/datalabs/{session['id']}/lab", headers={"Accept": "text/html"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/datalabs/")
    assert api.post("/api/v1/sessions", json={"datalab": "tiny"}).status_code == 401


def test_platform_credentials_never_reach_the_app(api, tiny_lab, people, auth, client, make_user):
    alice = auth("alice")
    session = launch(api, alice).json()
    wait_for(api, session["id"], alice)
    seen = api.get(f"/datalabs/{session['id']}/_headers",
                   headers={**alice, "Cookie": "datalabs_login=abc; theme=dark", "X-Custom": "kept"}).text
    assert "x-custom: kept" in seen and "cookie: theme=dark" in seen
    assert "authorization" not in seen and "datalabs_login" not in seen and alice["Authorization"] not in seen


def test_the_per_user_limit_refuses_clearly(api, tiny_lab, people, auth):
    alice = auth("alice")
    first, second = launch(api, alice).json(), launch(api, alice).json()
    third = launch(api, alice)
    assert third.status_code == 429
    error = third.json()["error"]
    assert error["code"] == "session_limit" and "destroy one" in error["message"]
    assert launch(api, auth("bob")).status_code == 201  # the limit is per user
    api.delete(f"/api/v1/sessions/{first['id']}", headers=alice)
    wait_for(api, first["id"], alice, states=("stopped",))
    assert launch(api, alice).status_code == 201
    del second


@pytest.mark.parametrize("body, field", [
    ({"cpu": 3}, "cpu"), ({"cpu": 0}, "cpu"), ({"cpu": "many"}, "cpu"), ({"memory": "2G"}, "memory"),
    ({"memory": "lots"}, "memory"), ({"memory": "1M"}, "memory"),
])
def test_resources_outside_the_limits_are_refused_with_the_limit_named(api, tiny_lab, people, auth, body, field):
    response = launch(api, auth("alice"), **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert api.get("/api/v1/sessions", headers=auth("alice")).json() == []


def test_unknown_datalab_volume_or_team_is_refused(api, tiny_lab, people, auth):
    alice = auth("alice")
    assert launch(api, alice, datalab="nope").status_code == 404
    assert launch(api, alice, volumes=["nope"]).status_code == 404
    assert launch(api, alice, team_workspaces=["astro"]).status_code == 404
    assert launch(api, alice, unexpected=1).status_code == 422
    assert api.get("/api/v1/sessions", headers=alice).json() == []


def test_embargoed_volumes_are_mounted_only_for_their_readers(api, tiny_lab, people, auth, db, tmp_path,
                                                            make_user):
    make_user("mike", teams={"astro": False})
    volume = tmp_path / "emb"
    volume.mkdir()
    DatasetService(db).register("emb", volume, private=True, teams=["astro"], release_date="2999-01-01")
    refused = launch(api, auth("alice"), volumes=["emb"])
    assert refused.status_code == 404 and "emb" in refused.json()["error"]["message"]
    allowed = launch(api, auth("mike"), volumes=["emb"])
    assert allowed.status_code == 201 and allowed.json()["volumes"] == ["emb"]
    assert allowed.json()["team_workspaces"] == ["astro"]


def test_destroy_stops_and_keeps_the_record(api, tiny_lab, people, auth):
    alice = auth("alice")
    session = launch(api, alice).json()
    wait_for(api, session["id"], alice)
    stopped = api.delete(f"/api/v1/sessions/{session['id']}", headers=alice)
    assert stopped.status_code == 200
    body = wait_for(api, session["id"], alice, states=("stopped",))
    assert body["reason"] == "destroyed by you" and body["ended_at"]
    assert api.get(f"/datalabs/{session['id']}/", headers=alice).status_code == 503
    assert api.get("/api/v1/sessions", headers=alice).json() == []
    assert [s["id"] for s in api.get("/api/v1/sessions?ended=true", headers=alice).json()] == [session["id"]]
    assert api.post(f"/api/v1/sessions/{session['id']}/renew", headers=alice).status_code == 409


def test_renew_moves_the_expiry(api, tiny_lab, people, auth, db):
    from datetime import timedelta

    from datalabs.sessions.models import LabSession

    alice = auth("alice")
    session = launch(api, alice).json()
    before = wait_for(api, session["id"], alice)
    row = db.get(LabSession, session["id"])
    row.expires_at = row.expires_at - timedelta(hours=20)
    db.commit()
    renewed = api.post(f"/api/v1/sessions/{session['id']}/renew", headers=alice).json()
    assert renewed["expires_at"] >= before["expires_at"]


def test_an_expired_session_is_stopped_with_the_reason(api, tiny_lab, people, auth, db):
    from datetime import timedelta

    from datalabs.db.base import utcnow
    from datalabs.sessions.models import LabSession

    alice = auth("alice")
    session = launch(api, alice).json()
    wait_for(api, session["id"], alice)
    row = db.get(LabSession, session["id"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    body = wait_for(api, session["id"], alice, states=("stopped",))
    assert body["reason"].startswith("expired after 24 h")


def test_an_idle_session_is_culled_and_traffic_keeps_it(api, tiny_lab, people, auth, db, settings):
    from datetime import timedelta

    from datalabs.db.base import utcnow
    from datalabs.sessions.models import LabSession

    settings.session_idle_minutes = 1
    alice = auth("alice")
    session = launch(api, alice).json()
    wait_for(api, session["id"], alice)
    row = db.get(LabSession, session["id"])
    row.last_activity_at = row.started_at = utcnow() - timedelta(minutes=5)
    db.commit()
    api.get(f"/datalabs/{session['id']}/", headers=alice)  # traffic through the proxy: not idle
    import time

    time.sleep(1.5)
    assert api.get(f"/api/v1/sessions/{session['id']}", headers=alice).json()["state"] == "running"
    api.app.state.supervisor.activity.clear()
    body = wait_for(api, session["id"], alice, states=("stopped",))
    assert body["reason"] == "stopped after 1 min without use"


@pytest.mark.parametrize("behaviour, reason", [
    ("fail", "could not start: the fake backend refuses to start anything"),
    ("crash", "exited with code 3"),
])
def test_backend_failures_end_as_failed_with_the_reason(running_app, tiny_lab, people, auth, behaviour, reason):
    from tests.conftest import in_process_client

    app = running_app(FakeBackend(behaviour=behaviour, delay=0.0))
    with in_process_client(app) as http:
        session = launch(http, auth("alice")).json()
        body = wait_for(http, session["id"], auth("alice"), states=("failed",))
    assert reason in body["reason"]


def test_a_queued_session_shows_why_it_waits(running_app, tiny_lab, people, auth):
    import time

    from tests.conftest import in_process_client

    app = running_app(FakeBackend(behaviour="never"))
    with in_process_client(app) as http:
        session = launch(http, auth("alice")).json()
        time.sleep(1)
        events = http.get(f"/api/v1/sessions/{session['id']}/events", headers=auth("alice")).json()
        assert http.get(f"/api/v1/sessions/{session['id']}", headers=auth("alice")).json()["state"] == "starting"
    assert "queued: position 1" in events[-1]["message"]


def test_progress_streams_until_running(api, tiny_lab, people, auth):
    alice = auth("alice")
    session = launch(api, alice).json()
    stream = api.get(f"/api/v1/sessions/{session['id']}/events?follow=true", headers=alice)
    events = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: {\"id\"")]
    assert events[-1]["state"] == "running" and events[-1]["progress"] == 100
    assert "event: end" in stream.text


def test_a_restarted_server_adopts_running_sessions(running_app, tiny_lab, people, auth):
    from tests.conftest import in_process_client

    backend = FakeBackend()
    first = running_app(backend)
    with in_process_client(first) as http:
        session = launch(http, auth("alice")).json()
        wait_for(http, session["id"], auth("alice"))
    first.state.supervisor.shutdown()  # the old server goes away; its sessions keep running
    second = running_app(FakeBackend())
    with in_process_client(second) as http:
        assert http.get(f"/datalabs/{session['id']}/again", headers=auth("alice")).status_code == 200
        FakeBackend.forget_all()  # now the workload is lost, as in a reboot
    third = running_app(FakeBackend())
    with in_process_client(third) as http:
        body = wait_for(http, session["id"], auth("alice"), states=("failed",))
    assert body["reason"].startswith("the session ended while the server was down")


def test_launch_options_show_the_limits(api, tiny_lab, people, auth):
    options = api.get("/api/v1/datalabs/tiny/launch-options", headers=auth("alice")).json()
    assert options["cpu_max"] == 2 and options["memory_max"] == 1024**3 and options["sessions_allowed"] == 2
    assert options["versions"] == ["1.0"] and options["kind"] == "web"
    assert api.get("/api/v1/datalabs/nope/launch-options", headers=auth("alice")).status_code == 404

