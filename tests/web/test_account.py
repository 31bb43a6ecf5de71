"""The account page: profile, API tokens created (secret shown once), listed and revoked."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from datalabs.db.base import utcnow

SECRET = re.compile(r'id="new-token-secret" readonly value="([^"]+)"')


def test_profile_shows_name_role_and_teams(web, make_user):
    make_user("alice", role="developer", teams={"rosetta": True, "juno": False})
    page = web("alice").get("/account").text
    assert "<code>alice</code>" in page and "developer" in page
    assert 'href="/teams/rosetta">rosetta</a> (admin)' in page and 'href="/teams/juno">juno</a>' in page


def test_create_token_shows_the_secret_once_and_it_works(web, make_user, csrf_of):
    make_user("alice")
    http = web("alice")
    page = http.get("/account")
    assert 'value="admin"' not in page.text  # the admin scope is for admins only
    created = http.post("/account/tokens", data={"csrf_token": csrf_of(page), "name": "laptop",
                                                 "scopes": ["read"], "expires": ""})
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    secret = SECRET.search(created.text).group(1)
    assert "shown only this once" in created.text
    assert secret not in http.get("/account").text

    with httpx.Client(transport=http._transport, base_url="http://testserver") as api:
        me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert me.status_code == 200
        assert me.json()["name"] == "alice" and me.json()["scopes"] == ["read"]
        refused = api.post("/api/v1/files/my_workspace/x", json={"type": "directory"},
                           headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 403  # a read-only token

    listing = http.get("/account").text
    row = re.search(r"<tr>\s*<td>laptop</td>.*?</tr>", listing, re.S).group(0)
    assert secret[:12] in row and "read" in row and "active" in row and "never" in row


def test_token_with_expiry_date(web, make_user, csrf_of, db):
    make_user("alice")
    http = web("alice")
    day = (utcnow() + timedelta(days=10)).date()
    created = http.post("/account/tokens", data={"csrf_token": csrf_of(http.get("/account")), "name": "short",
                                                 "scopes": ["read", "write"], "expires": day.isoformat()})
    assert created.status_code == 201
    assert f"{day.isoformat()} 23:59 UTC" in created.text
    past = http.post("/account/tokens", data={"csrf_token": csrf_of(http.get("/account")), "name": "old",
                                              "scopes": ["read"], "expires": "2001-01-01"})
    assert past.status_code == 422 and 'role="alert"' in past.text and "in the past" in past.text
    assert "<td>old</td>" not in http.get("/account").text


def test_token_form_refuses_no_scope_and_admin_scope_for_non_admins(web, make_user, csrf_of):
    make_user("alice")
    http = web("alice")
    none = http.post("/account/tokens", data={"csrf_token": csrf_of(http.get("/account")), "name": "x"})
    assert none.status_code == 422 and "at least one scope" in none.text
    admin = http.post("/account/tokens", data={"csrf_token": csrf_of(http.get("/account")), "name": "x",
                                               "scopes": ["read", "admin"]})
    assert admin.status_code == 422 and "admin" in admin.text
    assert "You have no API tokens yet." in http.get("/account").text


def test_admins_are_offered_the_admin_scope(web, make_user):
    make_user("root", role="admin")
    assert 'value="admin"' in web("root").get("/account").text


def test_form_post_without_the_csrf_token_changes_nothing(web, make_user, csrf_of):
    make_user("alice")
    http = web("alice")
    for token in ["", "not-the-token"]:
        refused = http.post("/account/tokens", data={"csrf_token": token, "name": "sneaky", "scopes": ["read"]})
        assert refused.status_code == 403
        assert 'role="alert"' in refused.text and "CSRF" in refused.text
        assert "new-token-secret" not in refused.text
    assert "sneaky" not in http.get("/account").text


def test_revoke_a_token(web, make_user, csrf_of, token_for):
    make_user("alice")
    secret = token_for("alice")
    http = web("alice")
    page = http.get("/account")
    token_id = re.search(r'action="/account/tokens/(\d+)/revoke"', page.text).group(1)

    refused = http.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": "bad"})
    assert refused.status_code == 403
    assert http.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    done = http.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 303 and done.headers["location"] == "/account#tokens"
    assert http.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert "revoked" in http.get("/account").text


def test_cannot_revoke_another_users_token(web, make_user, csrf_of, token_for):
    make_user("alice")
    make_user("bob")
    token_for("bob")
    http = web("alice")
    response = http.post("/account/tokens/1/revoke", data={"csrf_token": csrf_of(http.get("/account"))})
    assert response.status_code == 404


def test_anonymous_form_post_goes_to_login(web):
    response = web().post("/account/tokens", data={"name": "x", "scopes": ["read"]})
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/account"
