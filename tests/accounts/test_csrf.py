"""Web login and CSRF: a cookie-authenticated API request that changes something needs the
login's ``X-CSRF-Token`` header; without it nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from datalabs.accounts.models import LoginSession
from tests.conftest import PASSWORD


def log_in(client, name: str, password: str = PASSWORD):
    page = client.get("/login")
    assert page.status_code == 200
    prelogin = client.cookies.get("datalabs_prelogin")
    assert prelogin
    return client.post("/login", data={"username": name, "password": password, "csrf_token": prelogin, "next": "/"},
                       follow_redirects=False)


@pytest.fixture
def logged_in(client, make_user, session_factory):
    make_user("alice")
    response = log_in(client, "alice")
    assert response.status_code == 303
    assert client.cookies.get("datalabs_login")
    with session_factory() as session:
        return session.scalar(select(LoginSession)).csrf_token


def test_login_cookie_is_kept_hashed(logged_in, client, session_factory):
    secret = client.cookies.get("datalabs_login")
    with session_factory() as session:
        login = session.scalar(select(LoginSession))
    assert login.id != secret and secret not in login.id


def test_wrong_password_or_inactive_user_gets_no_cookie(client, make_user, db):
    make_user("alice")
    response = log_in(client, "alice", "wrong-password")
    assert response.status_code == 401
    assert client.cookies.get("datalabs_login") is None
    make_user("sleepy")
    from datalabs.accounts.service import AccountService

    AccountService(db).user("sleepy").is_active = False
    db.commit()
    assert log_in(client, "sleepy").status_code == 401
    assert client.cookies.get("datalabs_login") is None


def test_login_form_needs_its_csrf_token(client, make_user):
    make_user("alice")
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "forged"},
                           follow_redirects=False)
    assert response.status_code == 403
    assert client.cookies.get("datalabs_login") is None


def test_cookie_reads_need_no_csrf_header(logged_in, client):
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["name"] == "alice" and me.json()["authenticated_by"] == "cookie"


def test_cookie_write_without_csrf_header_is_refused_and_changes_nothing(logged_in, client, settings):
    attempts = [
        client.post("/api/v1/tokens", json={"name": "sneaky"}),
        client.put("/api/v1/content/my_workspace/evil.txt", content=b"evil"),
        client.post("/api/v1/files/my_workspace/evil", json={}),
        client.put("/api/v1/content/my_workspace/evil.txt", content=b"evil", headers={"X-CSRF-Token": "wrong"}),
    ]
    for response in attempts:
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/tokens").json() == []
    workspace = settings.workspaces_dir / "users" / "alice"
    assert not workspace.exists() or list(workspace.iterdir()) == []


def test_cookie_write_with_csrf_header_works(logged_in, client, settings):
    headers = {"X-CSRF-Token": logged_in}
    assert client.post("/api/v1/tokens", json={"name": "fine"}, headers=headers).status_code == 201
    response = client.put("/api/v1/content/my_workspace/ok.txt", content=b"fine", headers=headers)
    assert response.status_code == 201
    assert (settings.workspaces_dir / "users" / "alice" / "ok.txt").read_bytes() == b"fine"


def test_delete_without_csrf_is_refused(logged_in, client, settings):
    headers = {"X-CSRF-Token": logged_in}
    client.put("/api/v1/content/my_workspace/keep.txt", content=b"keep", headers=headers)
    response = client.delete("/api/v1/files/my_workspace/keep.txt")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert (settings.workspaces_dir / "users" / "alice" / "keep.txt").read_bytes() == b"keep"


def test_logout_ends_the_login(logged_in, client):
    response = client.post("/logout", data={"csrf_token": logged_in}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_non_ascii_csrf_header_is_refused_not_a_crash(logged_in, client):
    response = client.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "é".encode("latin-1")})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
