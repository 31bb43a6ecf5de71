"""Bad input to the account routes is refused with a clear 4xx, on SQLite and on PostgreSQL alike
(PostgreSQL cannot store or even compare text holding NUL: it must never reach a query)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from datalabs.db.models import Base


@pytest.fixture
def dump(session_factory):
    def snapshot():
        with session_factory() as session:
            return {t.name: sorted(repr(tuple(r)) for r in session.execute(text(f"SELECT * FROM {t.name}")))
                    for t in Base.metadata.sorted_tables if t.name != "api_tokens"}

    return snapshot


@pytest.fixture
def people(new_user):
    new_user("root", role="admin")
    new_user("tara", teams={"astro": True})


@pytest.mark.parametrize(("method", "url", "who", "body", "status"), [
    ("GET", "/api/v1/users/a%00b", "root", None, 404),
    ("PATCH", "/api/v1/users/a%00b", "root", {"role": "user"}, 404),
    ("GET", "/api/v1/teams/a%00b", "root", None, 404),
    ("PUT", "/api/v1/teams/astro/members/a%00b", "tara", {}, 404),
    ("DELETE", "/api/v1/teams/astro/members/a%00b", "tara", None, 404),
    ("PUT", "/api/v1/teams/a%00b/members/tara", "root", {}, 404),
    ("POST", "/api/v1/users", "root", {"name": "a\x00b"}, 422),
    ("POST", "/api/v1/users", "root", {"name": "newbie", "display_name": "New\x00bie"}, 422),
    ("POST", "/api/v1/users", "root", {"name": "newbie", "email": "x@y\x00"}, 422),
    ("POST", "/api/v1/users", "root", {"name": "newbie", "password": "long-enough\x00"}, 201),  # any password
    ("POST", "/api/v1/teams", "root", {"name": "a\x00b"}, 422),
    ("POST", "/api/v1/teams", "root", {"name": "newteam", "description": "x\x00y"}, 422),
    ("POST", "/api/v1/tokens", "tara", {"name": "lap\x00top"}, 422),
    ("POST", "/api/v1/tokens", "tara", {"scopes": ["read\x00"]}, 422),
    ("PATCH", "/api/v1/users/tara", "root", {"role": "ad\x00min"}, 422),
    ("PATCH", "/api/v1/users/tara", "root", {"quota": "1\x00G"}, 422),
    ("DELETE", "/api/v1/tokens/not-a-number", "tara", None, 422),
    ("DELETE", "/api/v1/tokens/-1", "tara", None, 404),
    ("POST", "/api/v1/users", "root", {"name": 5}, 422),
    ("POST", "/api/v1/users", "root", ["newbie"], 422),
    ("POST", "/api/v1/tokens", "tara", {"expires_at": "2030-02-30T00:00:00"}, 422),
])
def test_bad_account_input(client, auth, people, dump, method, url, who, body, status):
    before = dump()
    response = client.request(method, url, headers=auth(who), json=body)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.json()["error"]["message"]
        assert dump() == before


def test_malformed_json_body(client, auth, people, dump):
    before = dump()
    response = client.post("/api/v1/users", content=b"{name: newbie", headers={**auth("root"),
                                                                              "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert dump() == before


def test_login_with_nul_in_the_name_is_just_a_failed_login(client, make_user):
    make_user("alice")
    client.get("/login")
    response = client.post("/login", data={"username": "ali\x00ce", "password": "whatever-password",
                                           "csrf_token": client.cookies.get("datalabs_prelogin")},
                           follow_redirects=False)
    assert response.status_code == 401


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/v1/users", {"name": "newbie", "display_name": "d" * 201}, "display_name"),
    ("/api/v1/users", {"name": "newbie", "email": "e" * 321}, "email"),
    ("/api/v1/teams", {"name": "newteam", "description": "d" * 2001}, "description"),
])
def test_text_longer_than_its_column_is_refused(client, auth, people, dump, url, body, field):
    before = dump()
    response = client.post(url, json=body, headers=auth("root"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field and "longer than" in response.json()["error"]["message"]
    assert dump() == before
    fitting = {k: v[:-1] if k == field else v for k, v in body.items()}
    assert client.post(url, json=fitting, headers=auth("root")).status_code == 201


@pytest.mark.parametrize("token_id", ["0", "-1", "2147483648", "9999999999", "99999999999999999999999"])
def test_token_ids_out_of_range_are_not_found(client, auth, people, token_id):
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=auth("tara"))
    assert response.status_code == 404


@pytest.mark.parametrize("quota", ["100000P", 2**63, 2**70, "9999999999999999999999"])
def test_quota_beyond_what_the_database_holds(client, auth, people, dump, quota):
    before = dump()
    response = client.patch("/api/v1/users/tara", json={"quota": quota}, headers=auth("root"))
    assert response.status_code == 422
    assert "too large" in response.json()["error"]["message"]
    assert dump() == before
    assert client.patch("/api/v1/users/tara", json={"quota": 2**63 - 1}, headers=auth("root")).status_code == 200
