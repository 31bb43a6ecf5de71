"""The session pages with the fake backend: the launch form and its limits, a session's page,
"My datalabs", renew and destroy, and who may see what (another user's session is 404)."""

from __future__ import annotations

import html
import re
import time
from datetime import date, timedelta

import pytest
from argon2 import PasswordHasher, profiles

from datalabs.accounts import secrets
from datalabs.sessions.models import LabSession
from tests.conftest import in_process_client
from tests.sessions.conftest import running_app, tiny_lab  # noqa: F401 - fixtures
from tests.web.conftest import csrf_of, log_in

SESSION_PAGE = re.compile(r"^/sessions/(s_[0-9a-f]{16})$")
FUTURE = date.today() + timedelta(days=400)


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    """argon2's cheapest parameters: logging in still runs the real form and password check, faster."""
    monkeypatch.setattr(secrets, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def pages(running_app):  # noqa: F811 - the imported fixture
    """``pages(name)``: a client logged in as ``name`` on one app whose session supervisor runs."""
    app = running_app()
    clients = []

    def make(name: str | None = None):
        http = in_process_client(app)
        clients.append(http)
        if name is not None:
            assert log_in(http, name).status_code == 303
        return http

    yield make
    for http in clients:
        http.close()


@pytest.fixture
def people(make_user):
    make_user("alice", teams={"rosetta": False})
    make_user("bob", teams={"other": True})
    make_user("root", role="admin")


def launch(http, name: str = "tiny", **form):
    token = csrf_of(http.get(f"/datalabs/{name}/launch"))
    return http.post(f"/datalabs/{name}/launch", data={"csrf_token": token, "teams_shown": "1"} | form)


def launched(http, **form) -> str:
    response = launch(http, **form)
    assert response.status_code == 303, response.text[:500]
    match = SESSION_PAGE.match(response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def wait_state(session_factory, session_id: str, states=("running",), timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with session_factory() as db:
            state = db.get(LabSession, session_id).state
        if state in states or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def post(http, target: str, page: str, **form):
    return http.post(target, data={"csrf_token": csrf_of(http.get(page))} | form)


def test_the_launch_form_shows_the_limits_and_only_readable_volumes(pages, tiny_lab, people, make_volume):
    make_volume("pubvol", title="Public samples", mission="Rosetta")
    make_volume("ownvol", private=True, teams=["rosetta"], release_date=FUTURE, title="Rosetta embargo")
    make_volume("hidvol", private=True, teams=["other"], release_date=FUTURE, title="Someone else's secret")
    alice = pages("alice")
    detail = alice.get("/datalabs/tiny").text
    assert 'href="/datalabs/tiny/launch"' in detail and "coming with sessions" not in detail

    page = alice.get("/datalabs/tiny/launch")
    assert page.status_code == 200
    text = page.text
    assert "up to 2 CPUs" in text and "up to 1.0 GiB" in text
    assert 'name="cpu" type="number" min="0.1" max="2" step="0.1"' in text and 'value="0.5"' in text
    assert "You have 0 of 2 sessions running" in text
    assert 'value="pubvol"' in text and "Public samples" in text and "Rosetta" in text
    owned = text[text.index('value="ownvol"'):]
    assert owned.index("embargoed") < owned.index("</label>")  # the embargoed volume is marked as such
    assert "hidvol" not in text and "Someone else" not in html.unescape(text)
    assert re.search(r'name="team_workspaces" value="rosetta" checked', text)
    memory = re.findall(r'<option value="(\d+)"( selected)?>', text)
    assert [int(v) for v, _ in memory] == [256 * 1024**2, 512 * 1024**2, 1024**3]
    assert [int(v) for v, s in memory if s] == [256 * 1024**2]  # the datalab's default


def test_launching_redirects_to_the_session_page_which_shows_it_running(pages, tiny_lab, people, session_factory):
    alice = pages("alice")
    session_id = launched(alice, cpu="1.5", memory=str(512 * 1024**2), volumes=[], team_workspaces=[])
    with session_factory() as db:
        session = db.get(LabSession, session_id)
        assert (session.cpu, session.memory, session.team_workspaces) == (1.5, 512 * 1024**2, [])
    assert wait_state(session_factory, session_id) == "running"

    page = alice.get(f"/sessions/{session_id}")
    assert page.status_code == 200
    text = page.text
    assert 'id="session-state" aria-live="polite">running<' in text
    assert f'href="/datalabs/{session_id}/" role="button" id="session-open">Open</a>' in text
    assert '<progress id="session-progress" value="100"' in text
    assert "launch of tiny 1.0 accepted" in text and "512.0 MiB" in text
    assert f'data-events-url="/api/v1/sessions/{session_id}/events"' in text
    assert alice.get(f"/datalabs/{session_id}/").text.startswith(f"fake datalab {session_id}")

    listed = alice.get("/sessions").text
    assert f'href="/datalabs/{session_id}/" role="button" class="small">Open</a>' in listed
    assert f'href="/sessions/{session_id}" role="button" class="small outline">Logs</a>' in listed
    assert "1 of 2 running" in listed
    assert 'href="/sessions" aria-current="page">My datalabs<' in listed  # the navigation entry


def test_the_team_workspaces_are_mounted_unless_unchecked(pages, tiny_lab, people, session_factory):
    alice = pages("alice")
    checked = launched(alice, team_workspaces=["rosetta"])
    unchecked = launched(alice)
    with session_factory() as db:
        assert db.get(LabSession, checked).team_workspaces == ["rosetta"]
        assert db.get(LabSession, unchecked).team_workspaces == []


def test_a_bad_cpu_or_memory_shows_the_form_again_with_the_message(pages, tiny_lab, people, session_factory):
    alice = pages("alice")
    response = launch(alice, cpu="9", volumes=[])
    assert response.status_code == 422
    assert "cpu must be between 0.1 and 2 for this datalab, not 9" in response.text
    assert 'value="9"' in response.text and "<h1>Launch tiny</h1>" in response.text  # the form, as filled
    response = launch(alice, memory="lots")
    assert response.status_code == 422 and "memory must be a size such as 4G" in response.text
    response = launch(alice, memory="4G")
    assert response.status_code == 422 and "memory must be between 64M and 1.0 GiB" in response.text
    response = launch(alice, volumes=["nosuchvol"])
    assert response.status_code == 404 and "no archive volume named" in html.unescape(response.text)
    with session_factory() as db:
        assert db.query(LabSession).count() == 0


def test_the_session_limit_is_explained(pages, tiny_lab, people, settings):
    settings.sessions_per_user = 1
    alice = pages("alice")
    launched(alice)
    form = alice.get("/datalabs/tiny/launch").text
    assert "You have 1 of 1 session running" in form and 'href="/sessions">My datalabs</a>' in form
    response = launch(alice)
    assert response.status_code == 429
    assert "the most allowed (1): destroy one before launching another" in response.text


def test_an_unknown_datalab_or_version_is_not_found(pages, tiny_lab, people):
    alice = pages("alice")
    assert alice.get("/datalabs/ghost/launch").status_code == 404
    assert alice.get("/datalabs/tiny/launch?version=9.9").status_code == 404
    token = csrf_of(alice.get("/sessions"))
    response = alice.post("/datalabs/ghost/launch", data={"csrf_token": token})
    assert response.status_code == 404 and "no datalab named" in html.unescape(response.text)


def test_renew_and_destroy(pages, tiny_lab, people, session_factory):
    alice = pages("alice")
    session_id = launched(alice)
    assert wait_state(session_factory, session_id) == "running"
    page = f"/sessions/{session_id}"
    with session_factory() as db:
        before = db.get(LabSession, session_id).expires_at
    time.sleep(0.01)
    renewed = post(alice, f"{page}/renew", page)
    assert renewed.status_code == 303 and renewed.headers["location"] == page
    with session_factory() as db:
        assert db.get(LabSession, session_id).expires_at > before
    assert "renewed: runs until" in alice.get(page).text

    destroyed = post(alice, f"{page}/destroy", "/sessions", back="list")
    assert destroyed.status_code == 303 and destroyed.headers["location"] == "/sessions"
    assert wait_state(session_factory, session_id, ("stopped",)) == "stopped"
    text = alice.get(page).text
    assert "destroyed by you" in text and ">Destroy<" not in text and ">Renew<" not in text
    listed = alice.get("/sessions").text
    assert "No datalab is running" in listed
    assert '<details id="ended-sessions">' in listed and "destroyed by you" in listed
    again = post(alice, f"{page}/renew", page)
    assert again.status_code == 409 and "has ended; launch a new one" in again.text


def test_other_users_get_404_and_admins_may_look_and_stop(pages, tiny_lab, people, session_factory):
    alice, bob, root = pages("alice"), pages("bob"), pages("root")
    session_id = launched(alice)
    page = f"/sessions/{session_id}"
    assert bob.get(page).status_code == 404
    token = csrf_of(bob.get("/sessions"))
    for action in ("renew", "destroy"):
        response = bob.post(f"{page}/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action
    assert session_id not in bob.get("/sessions").text
    assert wait_state(session_factory, session_id) == "running"

    seen = root.get(page)
    assert seen.status_code == 200 and "session of <strong>alice</strong>" in seen.text
    assert 'id="session-open"' not in seen.text  # the proxy lets only the owner in: no Open for the admin
    assert post(root, f"{page}/destroy", page).status_code == 303
    assert wait_state(session_factory, session_id, ("stopped",)) == "stopped"
    assert "destroyed by admin root" in alice.get(page).text


def test_forms_without_the_csrf_token_are_refused(pages, tiny_lab, people, session_factory):
    alice = pages("alice")
    response = alice.post("/datalabs/tiny/launch", data={"cpu": "1"})
    assert response.status_code == 403 and "CSRF" in response.text
    with session_factory() as db:
        assert db.query(LabSession).count() == 0
    session_id = launched(alice)
    refused = alice.post(f"/sessions/{session_id}/destroy", data={"csrf_token": "forged"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    with session_factory() as db:
        assert db.get(LabSession, session_id).state not in ("stopping", "stopped")


def test_anonymous_visitors_are_sent_to_log_in(pages, tiny_lab, people):
    visitor = pages()
    for path in ("/sessions", "/sessions/s_0000000000000001", "/datalabs/tiny/launch"):
        response = visitor.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    response = visitor.post("/datalabs/tiny/launch", data={"cpu": "1"})
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/datalabs/tiny/launch"


def test_a_failed_launch_shows_why(running_app, tiny_lab, people, session_factory):  # noqa: F811
    from datalabs.execution.fake import FakeBackend

    app = running_app(backend=FakeBackend(behaviour="fail"))
    with in_process_client(app) as alice:
        assert log_in(alice, "alice").status_code == 303
        session_id = launched(alice)
        assert wait_state(session_factory, session_id, ("failed",)) == "failed"
        page = alice.get(f"/sessions/{session_id}").text
        assert '<div class="alert alert-error" role="alert" id="session-reason"><strong>This session failed:</strong>' in page
        assert "the fake backend refuses to start anything" in page
        assert ">Destroy<" not in page and 'id="session-open"' not in page and 'data-live="false"' in page
        listed = alice.get("/sessions").text
        assert "No datalab is running" in listed and "the fake backend refuses to start anything" in listed
