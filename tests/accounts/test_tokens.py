"""API tokens: stored hashed, scoped, expiring, listable and revocable by their owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from datalabs.accounts.models import ApiToken
from datalabs.accounts.service import AccountService
from datalabs.errors import InvalidInput, NotAuthenticated, PermissionDenied


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _all_token_rows(session_factory) -> list[tuple]:
    with session_factory() as session:
        return [tuple(row) for row in session.execute(text("SELECT * FROM api_tokens")).all()]


def test_secret_is_not_stored(new_user, token_for, session_factory):
    new_user("alice")
    secret = token_for("alice", scopes=["read"])
    assert secret.startswith("dlt_") and len(secret) > 40
    rows = _all_token_rows(session_factory)
    assert len(rows) == 1
    dumped = repr(rows)
    assert secret not in dumped
    assert secret[len("dlt_"):] not in dumped
    assert secret[12:] not in dumped  # only a short prefix is kept, to recognise the token


def test_token_authenticates_its_user(client, new_user, token_for):
    new_user("alice")
    body = client.get("/api/v1/me", headers=bearer(token_for("alice"))).json()
    assert body["name"] == "alice"
    assert body["authenticated_by"] == "token"
    assert body["scopes"] == ["read", "write"]


def test_unknown_token_is_refused(client, new_user):
    new_user("alice")
    response = client.get("/api/v1/me", headers=bearer("dlt_" + "x" * 43))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [
    "dlt_abc",                      # no scheme
    "Basic YWxpY2U6cGFzc3dvcmQ=",   # another scheme
    "Bearer",                        # no secret
    "Bearer    ",
    "Token dlt_abc",
])
def test_malformed_authorization_header(client, new_user, header):
    new_user("alice")
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_token"
    assert "Authorization: Bearer <token>" in error["message"]


def test_bad_token_is_refused_even_on_public_routes(client, new_user, make_volume):
    """A wrong token is an error, never a silent fall-back to anonymous access."""
    make_volume("pub")
    response = client.get("/api/v1/datasets", headers=bearer("dlt_wrong"))
    assert response.status_code == 401


def test_read_scope_cannot_change_anything(client, new_user, token_for, settings):
    new_user("alice")
    read_only = bearer(token_for("alice", scopes=["read"]))
    assert client.get("/api/v1/me", headers=read_only).status_code == 200
    assert client.get("/api/v1/files/my_workspace", headers=read_only).status_code == 200
    attempts = [
        client.put("/api/v1/content/my_workspace/a.txt", content=b"data", headers=read_only),
        client.post("/api/v1/files/my_workspace/folder", json={}, headers=read_only),
        client.post("/api/v1/tokens", json={"name": "more"}, headers=read_only),
        client.patch("/api/v1/files/my_workspace/a.txt", json={"path": "my_workspace/b.txt"}, headers=read_only),
        client.delete("/api/v1/tokens/1", headers=read_only),
    ]
    for response in attempts:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "insufficient_scope"
        assert "'write' scope" in response.json()["error"]["message"]
    assert not any((settings.workspaces_dir / "users" / "alice").glob("*"))
    assert len(client.get("/api/v1/tokens", headers=read_only).json()) == 1


def test_write_only_token_cannot_read(client, new_user, token_for):
    new_user("alice")
    write_only = bearer(token_for("alice", scopes=["write"]))
    response = client.get("/api/v1/me", headers=write_only)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_admin_token_without_admin_scope_cannot_administer(client, new_user, token_for, session_factory):
    new_user("root", role="admin")
    everyday = bearer(token_for("root", scopes=["read", "write"]))
    me = client.get("/api/v1/me", headers=everyday).json()
    assert me["role"] == "admin" and me["effective_role"] == "moderator"
    response = client.post("/api/v1/users", json={"name": "newbie"}, headers=everyday)
    assert response.status_code == 403
    assert client.get("/api/v1/users", headers=everyday).status_code == 403
    assert client.post("/api/v1/teams", json={"name": "astro"}, headers=everyday).status_code == 403
    with session_factory() as session:
        assert [u.name for u in AccountService(session).users()] == ["root"]
    full = bearer(token_for("root", scopes=["read", "write", "admin"]))
    assert client.post("/api/v1/users", json={"name": "newbie"}, headers=full).status_code == 201


def test_token_cannot_mint_a_token_with_more_scopes(client, new_user, token_for):
    new_user("root", role="admin")
    everyday = bearer(token_for("root", scopes=["read", "write"]))
    response = client.post("/api/v1/tokens", json={"scopes": ["read", "write", "admin"]}, headers=everyday)
    assert response.status_code == 403
    assert len(client.get("/api/v1/tokens", headers=everyday).json()) == 1


def test_unknown_scope_is_refused(client, new_user, auth, db):
    new_user("alice")
    response = client.post("/api/v1/tokens", json={"scopes": ["read", "sudo"]}, headers=auth("alice"))
    assert response.status_code == 422
    assert "unknown scope 'sudo'" in response.json()["error"]["message"]
    with pytest.raises(InvalidInput, match="unknown scope"):
        AccountService(db).create_token("alice", scopes=["everything"])
    assert len(client.get("/api/v1/tokens", headers=auth("alice")).json()) == 1  # only auth()'s


def test_create_token_over_the_api_returns_the_secret_once(client, new_user, auth):
    new_user("alice")
    response = client.post("/api/v1/tokens", json={"name": "laptop", "scopes": ["read"]}, headers=auth("alice"))
    assert response.status_code == 201
    created = response.json()
    assert created["token"].startswith(created["prefix"])
    assert created["scopes"] == ["read"] and created["name"] == "laptop"
    assert client.get("/api/v1/me", headers=bearer(created["token"])).json()["scopes"] == ["read"]
    listed = client.get("/api/v1/tokens", headers=auth("alice")).json()
    assert created["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)
    assert created["token"] not in client.get("/api/v1/tokens", headers=auth("alice")).text


def test_tokens_list_shows_only_my_tokens(named_token, client, new_user, auth, token_for):
    new_user("alice")
    new_user("bob")
    named_token("bob", "bobs")
    mine = client.get("/api/v1/tokens", headers=auth("alice")).json()
    assert len(mine) == 1 and mine[0]["name"] == ""
    assert "bobs" not in [t["name"] for t in mine]


def test_last_used_is_recorded(client, new_user, token_for):
    new_user("alice")
    secret = token_for("alice")
    tokens = client.get("/api/v1/tokens", headers=bearer(secret)).json()
    assert tokens[0]["last_used_at"] is not None


def test_expired_token(client, new_user, session_factory, token_for):
    new_user("alice")
    secret = token_for("alice", expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    with session_factory() as session:
        token = session.scalar(select(ApiToken))
        token.expires_at = datetime(2020, 3, 4, 5, 6, tzinfo=UTC)
        session.commit()
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "expired_token"
    assert "expired" in error["message"] and "2020-03-04 05:06" in error["message"]


def test_token_expiring_in_the_past_cannot_be_created(client, new_user, auth, db):
    new_user("alice")
    response = client.post("/api/v1/tokens", json={"expires_at": "2001-01-01T00:00:00Z"}, headers=auth("alice"))
    assert response.status_code == 422
    assert "past" in response.json()["error"]["message"]
    response = client.post("/api/v1/tokens", json={"expires_at": "next tuesday"}, headers=auth("alice"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert len(client.get("/api/v1/tokens", headers=auth("alice")).json()) == 1


def test_token_with_future_expiry_over_the_api(client, new_user, auth):
    new_user("alice")
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    response = client.post("/api/v1/tokens", json={"expires_at": when.replace(tzinfo=None).isoformat()},
                           headers=auth("alice"))
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["expires_at"]) == when  # a naive time is taken as UTC
    assert client.get("/api/v1/me", headers=bearer(response.json()["token"])).status_code == 200


def test_revoke_my_token(named_token, client, new_user, auth, token_for):
    new_user("alice")
    victim = named_token("alice", "old")
    token_id = next(t["id"] for t in client.get("/api/v1/tokens", headers=auth("alice")).json() if t["name"] == "old")
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=auth("alice")).status_code == 204
    response = client.get("/api/v1/me", headers=bearer(victim))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    listed = {t["id"]: t for t in client.get("/api/v1/tokens", headers=auth("alice")).json()}
    assert listed[token_id]["revoked_at"] is not None
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=auth("alice")).status_code == 204  # idempotent


def test_token_can_revoke_itself(client, new_user, token_for):
    new_user("alice")
    secret = token_for("alice")
    token_id = client.get("/api/v1/tokens", headers=bearer(secret)).json()[0]["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(secret)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


def test_cannot_revoke_another_users_token(named_token, client, new_user, auth, token_for):
    new_user("alice")
    new_user("root", role="admin")
    alices = named_token("alice", "alices")
    token_id = next(t["id"] for t in client.get("/api/v1/tokens", headers=auth("alice")).json() if t["name"] == "alices")
    for intruder in ("root",):
        response = client.delete(f"/api/v1/tokens/{token_id}", headers=auth(intruder))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    missing = client.delete("/api/v1/tokens/999999", headers=auth("root"))
    assert missing.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(alices)).status_code == 200


def test_cannot_revoke_another_plain_users_token(named_token, client, new_user, auth, token_for):
    new_user("alice")
    new_user("bob")
    alices = named_token("alice", "alices")
    token_id = next(t["id"] for t in client.get("/api/v1/tokens", headers=auth("alice")).json() if t["name"] == "alices")
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=auth("bob"))
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers=bearer(alices)).status_code == 200


def test_inactive_users_tokens_stop_working(client, new_user, token_for, auth, session_factory):
    new_user("alice")
    new_user("root", role="admin")
    secret = token_for("alice")
    assert client.patch("/api/v1/users/alice", json={"active": False}, headers=auth("root")).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401
    assert client.patch("/api/v1/users/alice", json={"active": True}, headers=auth("root")).status_code == 200
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200


def test_service_rules(db, new_user):
    new_user("alice")
    new_user("bob")
    service = AccountService(db)
    from datalabs.accounts.actor import Actor

    alice = Actor.of(service.user("alice"), scopes=frozenset({"read", "write"}))
    with pytest.raises(PermissionDenied):
        service.create_token("bob", actor=alice)
    with pytest.raises(NotAuthenticated):
        service.actor_for_token("not-a-token")
    new = service.create_token("alice", scopes=["read", "read"])
    assert new.token.scopes == "read"


def test_empty_scopes_and_admin_scope_for_a_non_admin_are_refused(client, new_user, auth):
    new_user("alice")
    empty = client.post("/api/v1/tokens", json={"scopes": []}, headers=auth("alice"))
    assert empty.status_code == 422 and "at least one scope" in empty.json()["error"]["message"]
    admin = client.post("/api/v1/tokens", json={"scopes": ["read", "admin"]}, headers=auth("alice"))
    assert admin.status_code == 422 and "only for admins" in admin.json()["error"]["message"]
    assert len(client.get("/api/v1/tokens", headers=auth("alice")).json()) == 1  # only auth()'s own
