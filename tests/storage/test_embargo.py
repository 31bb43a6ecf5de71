"""Embargoed archive volumes are invisible (404, never 403) to anyone not allowed, through every
route, with the same answer as for a name never registered; from the release date on they are
public with no manual step."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from datalabs.accounts.actor import Actor
from datalabs.accounts.service import AccountService
from datalabs.storage.datasets import DatasetService, today_utc

SECRET = "EMBARGOED-CONTENT-7f3a"
FUTURE = date.today() + timedelta(days=365)


@pytest.fixture
def scene(new_user, make_volume, token_for):
    new_user("root", role="admin")
    new_user("tara", teams={"astro": True})
    new_user("mike", teams={"astro": False})
    new_user("gina", teams={"geo": True})
    new_user("oscar")
    new_user("mod", role="moderator")
    make_volume("public", files={"README.txt": "public data"})
    make_volume("hidden", private=True, teams=["astro"], release_date=FUTURE,
                files={"secret.txt": SECRET, "sub/deeper.txt": SECRET})
    return {"root-everyday": {"Authorization": "Bearer " + token_for("root", scopes=["read", "write"])}}


ALLOWED = ("tara", "mike", "root")
NOT_ALLOWED = (None, "oscar", "gina", "mod", "root-everyday")


def headers_for(who, auth, scene):
    if who is None:
        return {}
    if who in scene:
        return scene[who]
    return auth(who)


READS = [
    ("GET", "/api/v1/datasets/{v}"),
    ("GET", "/api/v1/files/data/{v}"),
    ("GET", "/api/v1/files/data/{v}/"),
    ("GET", "/api/v1/files/data/{v}/secret.txt"),
    ("GET", "/api/v1/files/data/{v}/sub"),
    ("GET", "/api/v1/content/data/{v}/secret.txt"),
    ("GET", "/api/v1/content/data/{v}/sub/deeper.txt"),
    ("GET", "/api/v1/content/data/{v}/missing.txt"),
    ("HEAD", "/api/v1/content/data/{v}/secret.txt"),
]
WRITES = [
    ("PUT", "/api/v1/content/data/{v}/new.txt"),
    ("PUT", "/api/v1/content/data/{v}/secret.txt?overwrite=true"),
    ("POST", "/api/v1/files/data/{v}/newdir"),
    ("PATCH", "/api/v1/files/data/{v}/secret.txt"),
    ("DELETE", "/api/v1/files/data/{v}/secret.txt"),
    ("PATCH", "/api/v1/datasets/{v}"),
    ("DELETE", "/api/v1/datasets/{v}"),
]


def call(client, method, template, name, headers):
    url = template.format(v=name)
    kwargs = {}
    if method == "PUT":
        kwargs["content"] = b"x"
    elif method == "POST":
        kwargs["json"] = {}
    elif method == "PATCH":
        kwargs["json"] = {"path": "my_workspace/x.txt"} if "/files/" in url else {"title": "x"}
    return client.request(method, url, headers=headers, **kwargs)


def same_answer(hidden, never):
    """The two responses must not differ except for the name asked about."""
    assert hidden.status_code == never.status_code
    assert hidden.content.replace(b"hidden", b"NAME") == never.content.replace(b"neverregistered", b"NAME")
    skip = {"content-length", "date"}
    assert {k: v for k, v in hidden.headers.items() if k not in skip} == \
        {k: v for k, v in never.headers.items() if k not in skip}


def expected_status(who, method, template) -> int:
    if "/datasets/" in template and method != "GET":
        return 401 if who is None else 403  # admin-only routes: refused before the name is looked at
    if method in ("GET", "HEAD"):
        return 404
    return 401 if who is None else 404


@pytest.mark.parametrize("who", NOT_ALLOWED)
def test_embargoed_volume_does_not_exist_for_others(client, auth, scene, who):
    headers = headers_for(who, auth, scene)
    for method, template in READS + WRITES:
        hidden = call(client, method, template, "hidden", headers)
        never = call(client, method, template, "neverregistered", headers)
        assert hidden.status_code == expected_status(who, method, template), (method, template, hidden.text)
        same_answer(hidden, never)
        assert SECRET.encode() not in hidden.content


@pytest.mark.parametrize("who", NOT_ALLOWED)
def test_embargoed_volume_is_not_listed_for_others(client, auth, scene, who):
    headers = headers_for(who, auth, scene)
    datasets = client.get("/api/v1/datasets", headers=headers)
    assert datasets.status_code == 200
    assert [d["name"] for d in datasets.json()] == ["public"]
    assert "hidden" not in datasets.text
    listing = client.get("/api/v1/files/data", headers=headers)
    assert [e["name"] for e in listing.json()["entries"]] == ["public"]
    assert "hidden" not in listing.text


@pytest.mark.parametrize("who", ALLOWED)
def test_allowed_members_and_admins_see_it(client, auth, scene, who):
    headers = auth(who)
    assert [d["name"] for d in client.get("/api/v1/datasets", headers=headers).json()] == ["hidden", "public"]
    one = client.get("/api/v1/datasets/hidden", headers=headers).json()
    assert one["embargoed"] is True and one["teams"] == ["astro"] and one["release_date"] == FUTURE.isoformat()
    assert [e["name"] for e in client.get("/api/v1/files/data", headers=headers).json()["entries"]] == \
        ["hidden", "public"]
    assert client.get("/api/v1/content/data/hidden/secret.txt", headers=headers).text == SECRET
    assert client.get("/api/v1/content/data/hidden/sub/deeper.txt", headers=headers).text == SECRET
    # read-only for them too
    response = client.put("/api/v1/content/data/hidden/new.txt", content=b"x", headers=headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "read_only"


def test_embargo_follows_team_membership(client, auth, scene):
    headers = auth("oscar")
    assert client.get("/api/v1/content/data/hidden/secret.txt", headers=headers).status_code == 404
    assert client.put("/api/v1/teams/astro/members/oscar", json={}, headers=auth("tara")).status_code == 200
    assert client.get("/api/v1/content/data/hidden/secret.txt", headers=headers).text == SECRET
    assert client.delete("/api/v1/teams/astro/members/mike", headers=auth("tara")).status_code == 204
    assert client.get("/api/v1/content/data/hidden/secret.txt", headers=auth("mike")).status_code == 404


def test_private_volume_without_teams_is_for_admins_only(client, auth, new_user, make_volume):
    new_user("root", role="admin")
    new_user("alice")
    make_volume("adminonly", private=True, files={"a.txt": SECRET})
    assert client.get("/api/v1/content/data/adminonly/a.txt", headers=auth("root")).text == SECRET
    assert client.get("/api/v1/content/data/adminonly/a.txt", headers=auth("alice")).status_code == 404
    assert client.get("/api/v1/content/data/adminonly/a.txt").status_code == 404


@pytest.mark.parametrize("released", [date.today() - timedelta(days=1), date(2000, 1, 1)])
def test_passed_release_date_makes_it_public(client, auth, new_user, make_volume, released):
    new_user("oscar")
    make_volume("released", private=True, teams=[], release_date=released, files={"a.txt": "now public"})
    for headers in ({}, auth("oscar")):
        assert client.get("/api/v1/content/data/released/a.txt", headers=headers).text == "now public"
        listed = client.get("/api/v1/datasets", headers=headers).json()
        assert [(d["name"], d["private"], d["embargoed"]) for d in listed] == [("released", True, False)]
        assert client.get("/api/v1/files/data", headers=headers).json()["entries"][0]["name"] == "released"


def test_volume_released_today_is_public(client, make_volume):
    make_volume("today", private=True, release_date=today_utc(), files={"a.txt": "hello"})
    assert client.get("/api/v1/content/data/today/a.txt").text == "hello"


# -- the rule, with an injected clock ----------------------------------------------------

def test_dataset_service_uses_the_injected_day(db, new_user, make_volume):
    new_user("oscar")
    new_user("tara", teams={"astro": True})
    make_volume("timed", private=True, teams=["astro"], release_date="2030-06-15")
    accounts = AccountService(db)
    oscar = Actor.of(accounts.user("oscar"))
    tara = Actor.of(accounts.user("tara"))
    day = {"today": date(2030, 6, 14)}
    service = DatasetService(db, today=lambda: day["today"])
    assert [d.name for d in service.visible(oscar)] == []
    assert [d.name for d in service.visible(None)] == []
    assert [d.name for d in service.visible(tara)] == ["timed"]
    from datalabs.errors import NotFound

    with pytest.raises(NotFound, match="no archive volume named 'timed'"):
        service.get("timed", oscar)
    day["today"] = date(2030, 6, 15)  # the release day itself: public, no manual step
    assert [d.name for d in service.visible(None)] == ["timed"]
    assert service.get("timed", oscar).name == "timed"
    day["today"] = date(2031, 1, 1)
    assert service.get("timed", None).name == "timed"


def test_file_service_honours_the_injected_day(db, settings, new_user, make_volume):
    from datalabs.storage.files import FileService

    new_user("oscar")
    make_volume("timed", private=True, release_date="2030-06-15", files={"a.txt": "x"})
    oscar = Actor.of(AccountService(db).user("oscar"))
    before = FileService(db, settings, DatasetService(db, today=lambda: date(2030, 6, 1)))
    after = FileService(db, settings, DatasetService(db, today=lambda: date(2030, 7, 1)))
    from datalabs.errors import NotFound

    with pytest.raises(NotFound):
        before.stat(oscar, "data/timed/a.txt")
    assert [e.name for e in before.list(None, "data")] == []
    assert after.stat(oscar, "data/timed/a.txt").size == 1
    assert [e.name for e in after.list(None, "data")] == ["timed"]


def test_release_date_can_be_set_through_the_api(client, auth, new_user, make_volume):
    new_user("root", role="admin")
    make_volume("later", private=True, release_date=FUTURE, files={"a.txt": "x"})
    assert client.get("/api/v1/content/data/later/a.txt").status_code == 404
    past = (date.today() - timedelta(days=2)).isoformat()
    assert client.patch("/api/v1/datasets/later", json={"release_date": past}, headers=auth("root")).status_code == 200
    assert client.get("/api/v1/content/data/later/a.txt").text == "x"
