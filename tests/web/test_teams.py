"""Team pages: listing, members, and membership changes with the service's permission rules."""

from __future__ import annotations

import re

from datalabs.accounts.service import AccountService


def members_of(session_factory, team: str) -> dict[str, bool]:
    with session_factory() as session:
        return {m.user.name: m.is_admin for m in AccountService(session).team(team).memberships}


def test_teams_page_lists_my_teams_and_admins_see_all(web, make_user):
    make_user("alice", teams={"rosetta": True})
    make_user("bob", teams={"juno": False})
    make_user("root", role="admin")
    alice = web("alice").get("/teams").text
    assert 'href="/teams/rosetta"' in alice and "juno" not in alice and "team admin" in alice
    root = web("root").get("/teams").text
    assert 'href="/teams/rosetta"' in root and 'href="/teams/juno"' in root
    assert 'action="/teams"' in root and 'action="/teams"' not in alice


def test_team_page_shows_members_and_the_workspace(web, make_user):
    make_user("alice", teams={"rosetta": True})
    make_user("bob", teams={"rosetta": False})
    page = web("bob").get("/teams/rosetta")
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td><code>(\w+)</code>.*?<td>(yes|no)</td>", page.text, re.S)
    assert rows == [("alice", "yes"), ("bob", "no")]
    assert 'href="/browse/team_workspaces/rosetta"' in page.text
    assert "Add a member" not in page.text and "Make admin" not in page.text
    assert "Leave team" in page.text


def test_non_member_gets_404(web, make_user):
    make_user("alice", teams={"rosetta": True})
    make_user("carol")
    carol = web("carol")
    assert carol.get("/teams/rosetta").status_code == 404
    assert carol.get("/teams/no-such-team").status_code == 404
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', carol.get("/").text).group(1)
    refused = carol.post("/teams/rosetta/members", data={"csrf_token": csrf, "user": "carol"})
    assert refused.status_code == 404


def test_team_admin_adds_promotes_and_removes_a_member(web, make_user, csrf_of, session_factory):
    make_user("alice", teams={"rosetta": True})
    make_user("carol")
    http = web("alice")
    page = http.get("/teams/rosetta")
    assert "Add a member" in page.text
    added = http.post("/teams/rosetta/members", data={"csrf_token": csrf_of(page), "user": "carol"})
    assert added.status_code == 303 and added.headers["location"] == "/teams/rosetta#members"
    assert members_of(session_factory, "rosetta") == {"alice": True, "carol": False}

    again = http.post("/teams/rosetta/members", data={"csrf_token": csrf_of(page), "user": "carol"})
    assert again.status_code == 409 and "already a member" in again.text

    unknown = http.post("/teams/rosetta/members", data={"csrf_token": csrf_of(page), "user": "nobody"})
    assert unknown.status_code == 404 and 'role="alert"' in unknown.text and "nobody" in unknown.text
    assert "Team rosetta" in unknown.text  # the team page, with the message

    promoted = http.post("/teams/rosetta/members/carol/admin", data={"csrf_token": csrf_of(page), "admin": "true"})
    assert promoted.status_code == 303
    assert members_of(session_factory, "rosetta") == {"alice": True, "carol": True}

    removed = http.post("/teams/rosetta/members/carol/remove", data={"csrf_token": csrf_of(page)})
    assert removed.status_code == 303
    assert members_of(session_factory, "rosetta") == {"alice": True}


def test_plain_member_cannot_change_members_but_can_leave(web, make_user, csrf_of, session_factory):
    make_user("alice", teams={"rosetta": True})
    make_user("bob", teams={"rosetta": False})
    make_user("carol")
    http = web("bob")
    csrf = csrf_of(http.get("/teams/rosetta"))
    add = http.post("/teams/rosetta/members", data={"csrf_token": csrf, "user": "carol"})
    assert add.status_code == 403 and 'role="alert"' in add.text
    promote = http.post("/teams/rosetta/members/bob/admin", data={"csrf_token": csrf, "admin": "true"})
    assert promote.status_code == 403
    remove = http.post("/teams/rosetta/members/alice/remove", data={"csrf_token": csrf})
    assert remove.status_code == 403
    assert members_of(session_factory, "rosetta") == {"alice": True, "bob": False}

    left = http.post("/teams/rosetta/members/bob/remove", data={"csrf_token": csrf})
    assert left.status_code == 303 and left.headers["location"] == "/teams"
    assert members_of(session_factory, "rosetta") == {"alice": True}
    assert http.get("/teams/rosetta").status_code == 404


def test_membership_posts_need_the_csrf_token(web, make_user, session_factory):
    make_user("alice", teams={"rosetta": True})
    make_user("bob", teams={"rosetta": False})
    http = web("alice")
    for url, data in [("/teams/rosetta/members", {"user": "carol"}),
                      ("/teams/rosetta/members/bob/admin", {"admin": "true"}),
                      ("/teams/rosetta/members/bob/remove", {})]:
        response = http.post(url, data=data | {"csrf_token": "forged"})
        assert response.status_code == 403, url
    assert members_of(session_factory, "rosetta") == {"alice": True, "bob": False}


def test_last_team_admin_cannot_step_down_or_leave(web, make_user, csrf_of, session_factory):
    make_user("alice", teams={"rosetta": True})
    make_user("bob", teams={"rosetta": False})
    http = web("alice")
    csrf = csrf_of(http.get("/teams/rosetta"))
    demote = http.post("/teams/rosetta/members/alice/admin", data={"csrf_token": csrf, "admin": "false"})
    assert demote.status_code == 409 and "last admin" in demote.text and 'role="alert"' in demote.text
    leave = http.post("/teams/rosetta/members/alice/remove", data={"csrf_token": csrf})
    assert leave.status_code == 409 and "last admin" in leave.text
    assert members_of(session_factory, "rosetta") == {"alice": True, "bob": False}


def test_platform_admin_manages_any_team_and_creates_teams(web, make_user, csrf_of, session_factory):
    make_user("alice", teams={"rosetta": True})
    make_user("carol")
    make_user("root", role="admin")
    http = web("root")
    page = http.get("/teams/rosetta")
    assert page.status_code == 200 and "Add a member" in page.text
    http.post("/teams/rosetta/members", data={"csrf_token": csrf_of(page), "user": "carol", "admin": "true"})
    assert members_of(session_factory, "rosetta") == {"alice": True, "carol": True}
    created = http.post("/teams", data={"csrf_token": csrf_of(page), "name": "juno", "description": "Juno team"})
    assert created.status_code == 303 and created.headers["location"] == "/teams/juno"
    bad = http.post("/teams", data={"csrf_token": csrf_of(page), "name": "Bad Name!"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text


def test_plain_user_cannot_create_teams(web, make_user, csrf_of):
    make_user("alice")
    http = web("alice")
    refused = http.post("/teams", data={"csrf_token": csrf_of(http.get("/teams")), "name": "mine"})
    assert refused.status_code == 403
    assert "mine" not in http.get("/teams").text
