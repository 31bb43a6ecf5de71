"""Personal and team workspaces: list, stat, mkdir, upload, download, move, delete."""

from __future__ import annotations

import pytest

from tests.storage.conftest import leftovers, tree


@pytest.fixture
def alice(new_user, auth):
    new_user("alice")
    return auth("alice")


@pytest.fixture
def astro(new_user, auth):
    new_user("tara", teams={"astro": True})
    new_user("mike", teams={"astro": False})
    new_user("oscar")
    new_user("root", role="admin")
    return auth


def put(client, path, data, headers, **params):
    return client.put(f"/api/v1/content/{path}", content=data, headers=headers, params=params)


def test_top_of_the_tree(client, alice, astro):
    top = client.get("/api/v1/files", headers=alice).json()
    assert [e["name"] for e in top["entries"]] == ["my_workspace", "team_workspaces", "data"]
    assert top["writable"] is False
    assert client.get("/api/v1/files/team_workspaces", headers=alice).json()["entries"] == []
    assert [e["name"] for e in client.get("/api/v1/files/team_workspaces", headers=astro("mike")).json()["entries"]] \
        == ["astro"]
    assert client.get("/api/v1/files/nowhere", headers=alice).status_code == 404


def test_workspaces_need_a_login(client):
    for url in ("/api/v1/files/my_workspace", "/api/v1/files/team_workspaces", "/api/v1/workspaces",
                "/api/v1/content/my_workspace/a.txt"):
        assert client.get(url).status_code == 401, url
    assert client.put("/api/v1/content/my_workspace/a.txt", content=b"x").status_code == 401


def test_empty_workspace(client, alice):
    body = client.get("/api/v1/files/my_workspace", headers=alice).json()
    assert body["type"] == "directory" and body["entries"] == [] and body["total"] == 0 and body["writable"] is True


def test_upload_stat_list_download(client, alice, workspace):
    response = put(client, "my_workspace/notes.txt", b"hello world", alice)
    assert response.status_code == 201
    assert response.json()["path"] == "my_workspace/notes.txt" and response.json()["size"] == 11
    assert (workspace("alice") / "notes.txt").read_bytes() == b"hello world"
    stat = client.get("/api/v1/files/my_workspace/notes.txt", headers=alice).json()
    assert (stat["type"], stat["size"], stat["writable"]) == ("file", 11, True)
    listing = client.get("/api/v1/files/my_workspace", headers=alice).json()
    assert [(e["name"], e["size"]) for e in listing["entries"]] == [("notes.txt", 11)]
    assert client.get("/api/v1/content/my_workspace/notes.txt", headers=alice).content == b"hello world"
    part = client.get("/api/v1/content/my_workspace/notes.txt", headers={**alice, "Range": "bytes=6-"})
    assert part.status_code == 206 and part.content == b"world"


def test_binary_and_empty_uploads(client, alice, workspace):
    data = bytes(range(256)) * 1000
    assert put(client, "my_workspace/bin.dat", data, alice).status_code == 201
    assert put(client, "my_workspace/empty", b"", alice).status_code == 201
    assert (workspace("alice") / "bin.dat").read_bytes() == data
    assert (workspace("alice") / "empty").read_bytes() == b""


def test_unicode_names(client, alice, workspace):
    assert put(client, "my_workspace/données été.txt", b"x", alice).status_code == 201
    assert (workspace("alice") / "données été.txt").exists()
    names = [e["name"] for e in client.get("/api/v1/files/my_workspace", headers=alice).json()["entries"]]
    assert names == ["données été.txt"]


def test_upload_needs_the_folder_unless_parents(client, alice, workspace, uploads_dir):
    response = put(client, "my_workspace/a/b/c.txt", b"x", alice)
    assert response.status_code == 404
    assert "my_workspace/a" in response.json()["error"]["message"]
    assert tree(workspace("alice")) == {}
    assert put(client, "my_workspace/a/b/c.txt", b"x", alice, parents="true").status_code == 201
    assert tree(workspace("alice")) == {"a/": "/", "a/b/": "/", "a/b/c.txt": b"x"}
    assert leftovers(uploads_dir) == []


def test_overwrite_needs_to_be_asked_for(client, alice, workspace):
    put(client, "my_workspace/f.txt", b"first", alice)
    response = put(client, "my_workspace/f.txt", b"second", alice)
    assert response.status_code == 409
    assert "overwrite" in response.json()["error"]["message"]
    assert (workspace("alice") / "f.txt").read_bytes() == b"first"
    assert put(client, "my_workspace/f.txt", b"second", alice, overwrite="true").status_code == 201
    assert (workspace("alice") / "f.txt").read_bytes() == b"second"


def test_upload_onto_a_folder_is_refused(client, alice, workspace):
    (workspace("alice") / "dir").mkdir()
    response = put(client, "my_workspace/dir", b"x", alice, overwrite="true")
    assert response.status_code == 409
    assert (workspace("alice") / "dir").is_dir()


def test_upload_to_the_workspace_itself_is_refused(client, alice):
    assert put(client, "my_workspace", b"x", alice).status_code == 403
    assert put(client, "my_workspace/", b"x", alice).status_code == 403


def test_mkdir(client, alice, workspace):
    response = client.post("/api/v1/files/my_workspace/results", json={}, headers=alice)
    assert response.status_code == 201
    assert response.json() == {**response.json(), "name": "results", "path": "my_workspace/results",
                               "type": "directory"}
    assert (workspace("alice") / "results").is_dir()
    again = client.post("/api/v1/files/my_workspace/results", json={}, headers=alice)
    assert again.status_code == 409
    missing = client.post("/api/v1/files/my_workspace/x/y/z", json={}, headers=alice)
    assert missing.status_code == 404
    assert client.post("/api/v1/files/my_workspace/x/y/z", json={"parents": True}, headers=alice).status_code == 201
    assert (workspace("alice") / "x" / "y" / "z").is_dir()
    assert client.post("/api/v1/files/my_workspace", json={}, headers=alice).status_code in (403, 409)
    assert client.post("/api/v1/files/my_workspace/f", json={"type": "file"}, headers=alice).status_code == 422


def test_rename_and_move(client, alice, workspace):
    put(client, "my_workspace/a.txt", b"A", alice)
    client.post("/api/v1/files/my_workspace/sub", json={}, headers=alice)
    response = client.patch("/api/v1/files/my_workspace/a.txt", json={"path": "my_workspace/sub/b.txt"}, headers=alice)
    assert response.status_code == 200
    assert response.json()["path"] == "my_workspace/sub/b.txt"
    assert tree(workspace("alice")) == {"sub/": "/", "sub/b.txt": b"A"}
    response = client.patch("/api/v1/files/my_workspace/sub", json={"path": "my_workspace/renamed"}, headers=alice)
    assert response.status_code == 200
    assert tree(workspace("alice")) == {"renamed/": "/", "renamed/b.txt": b"A"}


def test_move_never_overwrites(client, alice, workspace):
    put(client, "my_workspace/a.txt", b"A", alice)
    put(client, "my_workspace/b.txt", b"B", alice)
    response = client.patch("/api/v1/files/my_workspace/a.txt", json={"path": "my_workspace/b.txt"}, headers=alice)
    assert response.status_code == 409
    assert tree(workspace("alice")) == {"a.txt": b"A", "b.txt": b"B"}


def test_move_errors(client, alice, workspace):
    put(client, "my_workspace/dir/a.txt", b"A", alice, parents="true")
    before = tree(workspace("alice"))
    cases = [
        ("my_workspace/missing.txt", "my_workspace/x.txt", 404),
        ("my_workspace/dir/a.txt", "my_workspace/nofolder/a.txt", 404),
        ("my_workspace/dir", "my_workspace/dir/inside", 422),       # a folder into itself
        ("my_workspace/dir", "my_workspace/dir/a/b", 422),
        ("my_workspace", "my_workspace/elsewhere", 403),            # the workspace itself
        ("my_workspace/dir", "my_workspace", 403),
        ("my_workspace/dir", "team_workspaces/nosuchteam/dir", 404),
        ("my_workspace/dir/a.txt", "../escape.txt", 422),
    ]
    for source, target, status in cases:
        response = client.patch(f"/api/v1/files/{source}", json={"path": target}, headers=alice)
        assert response.status_code == status, (source, target, response.text)
        assert response.headers["content-type"] == "application/json"
    assert tree(workspace("alice")) == before


def test_delete(client, alice, workspace):
    put(client, "my_workspace/dir/sub/a.txt", b"A", alice, parents="true")
    put(client, "my_workspace/b.txt", b"B", alice)
    assert client.delete("/api/v1/files/my_workspace/b.txt", headers=alice).status_code == 204
    response = client.delete("/api/v1/files/my_workspace/dir", headers=alice)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_empty"
    assert "recursive" in response.json()["error"]["message"]
    assert tree(workspace("alice")) == {"dir/": "/", "dir/sub/": "/", "dir/sub/a.txt": b"A"}
    assert client.delete("/api/v1/files/my_workspace/dir?recursive=true", headers=alice).status_code == 204
    assert tree(workspace("alice")) == {}
    client.post("/api/v1/files/my_workspace/emptydir", json={}, headers=alice)
    assert client.delete("/api/v1/files/my_workspace/emptydir", headers=alice).status_code == 204
    assert client.delete("/api/v1/files/my_workspace/emptydir", headers=alice).status_code == 404
    assert client.delete("/api/v1/files/my_workspace", headers=alice).status_code == 403
    assert client.delete("/api/v1/files/my_workspace?recursive=true", headers=alice).status_code == 403
    assert workspace("alice").is_dir()


def test_workspaces_are_private(client, alice, astro, workspace):
    put(client, "my_workspace/diary.txt", b"dear diary", alice)
    for who in ("oscar", "root", "tara"):
        headers = astro(who)
        assert client.get("/api/v1/content/my_workspace/diary.txt", headers=headers).status_code == 404
        assert client.get("/api/v1/files/my_workspace", headers=headers).json()["entries"] == []
        assert client.delete("/api/v1/files/my_workspace/diary.txt", headers=headers).status_code == 404
    assert (workspace("alice") / "diary.txt").read_bytes() == b"dear diary"


def test_team_workspace_is_shared_by_members_only(client, astro, team_workspace):
    tara, mike = astro("tara"), astro("mike")
    assert put(client, "team_workspaces/astro/plan.txt", b"the plan", tara).status_code == 201
    assert client.get("/api/v1/content/team_workspaces/astro/plan.txt", headers=mike).content == b"the plan"
    assert put(client, "team_workspaces/astro/plan.txt", b"mikes plan", mike, overwrite="true").status_code == 201
    assert (team_workspace("astro") / "plan.txt").read_bytes() == b"mikes plan"
    for who in ("oscar", "root"):
        headers = astro(who)
        for response in (
            client.get("/api/v1/files/team_workspaces/astro", headers=headers),
            client.get("/api/v1/content/team_workspaces/astro/plan.txt", headers=headers),
            put(client, "team_workspaces/astro/x.txt", b"x", headers),
            client.delete("/api/v1/files/team_workspaces/astro/plan.txt", headers=headers),
            client.post("/api/v1/files/team_workspaces/astro/dir", json={}, headers=headers),
        ):
            assert response.status_code == 404, (who, response.request.url)
            assert b"mikes plan" not in response.content
    assert tree(team_workspace("astro")) == {"plan.txt": b"mikes plan"}
    # a team that does not exist looks the same as one the caller is not in
    gone = client.get("/api/v1/files/team_workspaces/nosuch", headers=astro("oscar"))
    hidden = client.get("/api/v1/files/team_workspaces/astro", headers=astro("oscar"))
    assert gone.json()["error"]["message"].replace("nosuch", "T") == hidden.json()["error"]["message"].replace("astro", "T")


def test_move_between_my_workspace_and_a_team_workspace(client, astro, workspace, team_workspace):
    mike = astro("mike")
    put(client, "my_workspace/result.csv", b"1,2,3", mike)
    response = client.patch("/api/v1/files/my_workspace/result.csv",
                            json={"path": "team_workspaces/astro/result.csv"}, headers=mike)
    assert response.status_code == 200
    assert response.json()["path"] == "team_workspaces/astro/result.csv"
    assert tree(workspace("mike")) == {}
    assert tree(team_workspace("astro")) == {"result.csv": b"1,2,3"}
    client.post("/api/v1/files/team_workspaces/astro/folder", json={}, headers=mike)
    put(client, "team_workspaces/astro/folder/x.txt", b"x", mike)
    response = client.patch("/api/v1/files/team_workspaces/astro/folder", json={"path": "my_workspace/copy"},
                            headers=mike)
    assert response.status_code == 200
    assert tree(workspace("mike")) == {"copy/": "/", "copy/x.txt": b"x"}
    # not into a team one is not a member of
    response = client.patch("/api/v1/files/my_workspace/copy", json={"path": "team_workspaces/other/copy"},
                            headers=mike)
    assert response.status_code == 404
    assert tree(workspace("mike")) == {"copy/": "/", "copy/x.txt": b"x"}


def test_workspaces_summary(client, astro, settings):
    put(client, "my_workspace/a.bin", b"x" * 1000, astro("mike"))
    put(client, "team_workspaces/astro/b.bin", b"x" * 300, astro("tara"))
    body = client.get("/api/v1/workspaces", headers=astro("mike")).json()
    assert body == [
        {"path": "my_workspace", "kind": "personal", "used_bytes": 1000, "quota_bytes": settings.user_quota},
        {"path": "team_workspaces/astro", "kind": "team", "used_bytes": 300, "quota_bytes": settings.team_quota},
    ]
    assert [w["path"] for w in client.get("/api/v1/workspaces", headers=astro("oscar")).json()] == ["my_workspace"]


def test_download_of_workspace_file_has_safe_headers(client, alice):
    put(client, "my_workspace/page.html", b"<script>steal()</script>", alice)
    response = client.get("/api/v1/content/my_workspace/page.html?inline=true", headers=alice)
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["content-security-policy"]


def test_listing_shows_folders_first(client, alice, workspace):
    for name in ("b.txt", "A.txt"):
        put(client, f"my_workspace/{name}", b"x", alice)
    for name in ("zdir", "adir"):
        client.post(f"/api/v1/files/my_workspace/{name}", json={}, headers=alice)
    names = [e["name"] for e in client.get("/api/v1/files/my_workspace", headers=alice).json()["entries"]]
    assert names == ["adir", "zdir", "A.txt", "b.txt"]
