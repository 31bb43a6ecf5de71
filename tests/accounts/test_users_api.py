"""The users API: admins list, create and change users; a user sees only themselves."""

from __future__ import annotations

import pytest


from datalabs.accounts.service import AccountService


def test_admin_creates_a_user_who_can_log_in(client, new_user, auth, db):
    new_user("root", role="admin")
    response = client.post("/api/v1/users", json={"name": "newbie", "role": "developer", "password": "long-enough-pw",
                                                  "email": "n@example.org"}, headers=auth("root"))
    assert response.status_code == 201
    assert response.json()["role"] == "developer" and "password" not in response.text
    assert AccountService(db).authenticate("newbie", "long-enough-pw").name == "newbie"


def test_user_creation_errors_change_nothing(client, new_user, auth, db):
    new_user("root", role="admin")
    cases = [
        ({"name": "Bad Name"}, 422, "invalid user name"),
        ({"name": "x" * 40}, 422, "invalid user name"),
        ({"name": "newbie", "role": "wizard"}, 422, "unknown role"),
        ({"name": "newbie", "password": "short"}, 422, "too short"),
        ({"name": "root"}, 409, "already exists"),
        ({"name": "newbie", "surprise": 1}, 422, "surprise"),
    ]
    for body, status, message in cases:
        response = client.post("/api/v1/users", json=body, headers=auth("root"))
        assert response.status_code == status, body
        assert message in response.json()["error"]["message"], body
    db.expire_all()
    assert [u.name for u in AccountService(db).users()] == ["root"]


def test_non_admins_cannot_manage_users(client, new_user, auth, db):
    new_user("alice")
    new_user("mod", role="moderator")
    for who in ("alice", "mod"):
        assert client.get("/api/v1/users", headers=auth(who)).status_code == 403
        assert client.post("/api/v1/users", json={"name": "x"}, headers=auth(who)).status_code == 403
        assert client.patch("/api/v1/users/alice", json={"role": "admin"}, headers=auth(who)).status_code == 403
    assert client.get("/api/v1/users").status_code == 401
    db.expire_all()
    assert {u.name: u.role for u in AccountService(db).users()} == {"alice": "user", "mod": "moderator"}


def test_user_sees_only_themselves(client, new_user, auth):
    new_user("alice")
    new_user("bob")
    assert client.get("/api/v1/users/alice", headers=auth("alice")).json()["name"] == "alice"
    other = client.get("/api/v1/users/bob", headers=auth("alice"))
    missing = client.get("/api/v1/users/ghost", headers=auth("alice"))
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["message"] == "no user named 'bob'"
    assert missing.json()["error"]["message"] == "no user named 'ghost'"


def test_admin_changes_role_activity_and_quota(client, new_user, auth, db):
    new_user("root", role="admin")
    new_user("alice")
    response = client.patch("/api/v1/users/alice", json={"role": "moderator", "quota": "2G", "active": False},
                            headers=auth("root"))
    assert response.status_code == 200
    assert response.json()["role"] == "moderator"
    assert response.json()["quota_bytes"] == 2 * 1024**3
    assert response.json()["active"] is False
    response = client.patch("/api/v1/users/alice", json={"quota": "default"}, headers=auth("root"))
    assert response.json()["quota_bytes"] is None


def test_bad_user_changes_change_nothing(client, new_user, auth, db):
    new_user("root", role="admin")
    new_user("alice")
    for body in ({"role": "emperor"}, {"quota": "lots"}, {"quota": -5}, {"nickname": "x"}):
        response = client.patch("/api/v1/users/alice", json=body, headers=auth("root"))
        assert response.status_code == 422, body
    assert client.patch("/api/v1/users/ghost", json={"role": "user"}, headers=auth("root")).status_code == 404
    db.expire_all()
    alice = AccountService(db).user("alice")
    assert (alice.role, alice.quota_bytes, alice.is_active) == ("user", None, True)


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(client, new_user, auth, session_factory):
    from datalabs.accounts.service import AccountService

    new_user("root", role="admin")
    for change in ({"role": "user"}, {"active": False}):
        response = client.patch("/api/v1/users/root", json=change, headers=auth("root"))
        assert response.status_code == 409 and response.json()["error"]["code"] == "last_admin"
    new_user("second", role="admin")
    assert client.patch("/api/v1/users/root", json={"role": "user"}, headers=auth("root")).status_code == 200
    with session_factory() as session:
        assert AccountService(session).user("root").role == "user"


def test_duplicate_names_in_a_race_are_reported_not_crashed(session_factory, monkeypatch):
    from datalabs.accounts.repository import AccountRepository
    from datalabs.accounts.service import AccountService
    from datalabs.errors import AlreadyExists

    with session_factory() as session:
        AccountService(session).create_user("dup")
        AccountService(session).create_team("crew")
    monkeypatch.setattr(AccountRepository, "user_by_name", lambda self, name: None)  # the check ran first
    monkeypatch.setattr(AccountRepository, "team_by_name", lambda self, name: None)
    with session_factory() as session:
        with pytest.raises(AlreadyExists, match="a user named 'dup' already exists"):
            AccountService(session).create_user("dup")
        with pytest.raises(AlreadyExists, match="a team named 'crew' already exists"):
            AccountService(session).create_team("crew")
