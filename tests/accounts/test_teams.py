"""Teams: platform admins create them, team admins manage membership, non-members see nothing."""

from __future__ import annotations

import pytest

from datalabs.accounts.service import AccountService


@pytest.fixture
def astro(new_user):
    new_user("root", role="admin")
    new_user("tara", teams={"astro": True})
    new_user("mike", teams={"astro": False})
    new_user("oscar")
    new_user("mod", role="moderator")
    return "astro"


def members(db, team="astro") -> dict[str, bool]:
    db.expire_all()
    return {m.user.name: m.is_admin for m in AccountService(db).team(team).memberships}


def test_only_platform_admins_create_teams(client, auth, astro, db):
    for who in ("tara", "mike", "oscar", "mod"):
        response = client.post("/api/v1/teams", json={"name": "newteam"}, headers=auth(who))
        assert response.status_code == 403, who
    assert client.post("/api/v1/teams", json={"name": "newteam"}).status_code == 401
    assert [t.name for t in AccountService(db).teams()] == ["astro"]
    response = client.post("/api/v1/teams", json={"name": "newteam", "description": "new"}, headers=auth("root"))
    assert response.status_code == 201
    assert response.json() == {**response.json(), "name": "newteam", "description": "new", "members": []}


@pytest.mark.parametrize("name", ["Astro", "my team", "t" * 33, "", "9lives", "astro\n"])
def test_invalid_team_names(client, auth, astro, db, name):
    response = client.post("/api/v1/teams", json={"name": name}, headers=auth("root"))
    assert response.status_code == 422
    assert "invalid team name" in response.json()["error"]["message"]
    assert [t.name for t in AccountService(db).teams()] == ["astro"]


def test_duplicate_team(client, auth, astro):
    response = client.post("/api/v1/teams", json={"name": "astro"}, headers=auth("root"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_exists"


def test_members_see_the_team_and_non_members_get_404(client, auth, astro):
    for who in ("tara", "mike", "root"):
        response = client.get("/api/v1/teams/astro", headers=auth(who))
        assert response.status_code == 200, who
        assert {m["user"]: m["admin"] for m in response.json()["members"]} == {"tara": True, "mike": False}
    for who in ("oscar", "mod"):
        response = client.get("/api/v1/teams/astro", headers=auth(who))
        missing = client.get("/api/v1/teams/nosuchteam", headers=auth(who))
        assert response.status_code == missing.status_code == 404
        assert response.json()["error"]["message"].replace("astro", "X") == \
            missing.json()["error"]["message"].replace("nosuchteam", "X")
    assert client.get("/api/v1/teams/astro").status_code == 401


def test_team_list_shows_only_my_teams(client, auth, astro, new_user):
    new_user("solo", teams={"other": True})
    assert [t["name"] for t in client.get("/api/v1/teams", headers=auth("mike")).json()] == ["astro"]
    assert client.get("/api/v1/teams", headers=auth("oscar")).json() == []
    assert [t["name"] for t in client.get("/api/v1/teams", headers=auth("solo")).json()] == ["other"]
    assert [t["name"] for t in client.get("/api/v1/teams", headers=auth("root")).json()] == ["astro", "other"]


def test_team_admin_adds_and_promotes_members(client, auth, astro, db):
    response = client.put("/api/v1/teams/astro/members/oscar", json={}, headers=auth("tara"))
    assert response.status_code == 200
    assert members(db) == {"tara": True, "mike": False, "oscar": False}
    response = client.put("/api/v1/teams/astro/members/oscar", json={"admin": True}, headers=auth("tara"))
    assert response.status_code == 200
    assert members(db)["oscar"] is True
    # the new member now sees the team and its workspace
    assert client.get("/api/v1/teams/astro", headers=auth("oscar")).status_code == 200
    assert client.get("/api/v1/files/team_workspaces/astro", headers=auth("oscar")).status_code == 200


def test_plain_member_cannot_add_or_promote(client, auth, astro, db):
    response = client.put("/api/v1/teams/astro/members/oscar", json={}, headers=auth("mike"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    response = client.put("/api/v1/teams/astro/members/mike", json={"admin": True}, headers=auth("mike"))
    assert response.status_code == 403
    assert members(db) == {"tara": True, "mike": False}


def test_non_member_gets_404_when_managing(client, auth, astro, db):
    for who in ("oscar", "mod"):
        assert client.put("/api/v1/teams/astro/members/oscar", json={}, headers=auth(who)).status_code == 404
        assert client.delete("/api/v1/teams/astro/members/mike", headers=auth(who)).status_code == 404
    assert members(db) == {"tara": True, "mike": False}


def test_platform_admin_manages_any_team(client, auth, astro, db):
    assert client.put("/api/v1/teams/astro/members/oscar", json={}, headers=auth("root")).status_code == 200
    assert client.delete("/api/v1/teams/astro/members/mike", headers=auth("root")).status_code == 204
    assert members(db) == {"tara": True, "oscar": False}


def test_adding_unknown_user(client, auth, astro, db):
    response = client.put("/api/v1/teams/astro/members/ghost", json={}, headers=auth("tara"))
    assert response.status_code == 404
    assert "ghost" in response.json()["error"]["message"]
    assert members(db) == {"tara": True, "mike": False}


def test_team_admin_removes_a_member(client, auth, astro, db):
    assert client.delete("/api/v1/teams/astro/members/mike", headers=auth("tara")).status_code == 204
    assert members(db) == {"tara": True}
    assert client.get("/api/v1/teams/astro", headers=auth("mike")).status_code == 404
    assert client.get("/api/v1/files/team_workspaces/astro", headers=auth("mike")).status_code == 404


def test_member_may_leave_but_not_remove_others(client, auth, astro, new_user, db):
    new_user("nina", teams={"astro": False})
    response = client.delete("/api/v1/teams/astro/members/nina", headers=auth("mike"))
    assert response.status_code == 403
    assert members(db) == {"tara": True, "mike": False, "nina": False}
    assert client.delete("/api/v1/teams/astro/members/mike", headers=auth("mike")).status_code == 204
    assert members(db) == {"tara": True, "nina": False}


def test_removing_a_non_member(client, auth, astro):
    response = client.delete("/api/v1/teams/astro/members/oscar", headers=auth("tara"))
    assert response.status_code == 404
    assert "not a member" in response.json()["error"]["message"]


def test_last_team_admin_cannot_be_removed_while_members_remain(client, auth, astro, db):
    for who in ("tara", "root"):
        response = client.delete("/api/v1/teams/astro/members/tara", headers=auth(who))
        assert response.status_code == 409, who
        assert "last admin" in response.json()["error"]["message"]
    assert members(db) == {"tara": True, "mike": False}
    # with a second admin, the first may go
    assert client.put("/api/v1/teams/astro/members/mike", json={"admin": True}, headers=auth("tara")).status_code == 200
    assert client.delete("/api/v1/teams/astro/members/tara", headers=auth("tara")).status_code == 204
    assert members(db) == {"mike": True}
    # the last member, even an admin, may leave: the team is then empty
    assert client.delete("/api/v1/teams/astro/members/mike", headers=auth("mike")).status_code == 204
    assert members(db) == {}


def test_last_team_admin_cannot_demote_themselves_while_members_remain(client, auth, astro, db):
    response = client.put("/api/v1/teams/astro/members/tara", json={"admin": False}, headers=auth("tara"))
    assert response.status_code == 409
    assert "last admin" in response.json()["error"]["message"]
    assert members(db) == {"tara": True, "mike": False}


def test_membership_changes_apply_to_existing_tokens(client, auth, astro):
    """Team membership is read on every request, not frozen into the token."""
    headers = auth("oscar")
    assert client.get("/api/v1/teams/astro", headers=headers).status_code == 404
    client.put("/api/v1/teams/astro/members/oscar", json={}, headers=auth("tara"))
    assert client.get("/api/v1/teams/astro", headers=headers).status_code == 200
