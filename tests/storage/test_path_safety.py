"""Path safety: nothing outside a workspace or volume is ever read or written, whatever the path
(dot-segments, absolute, URL-encoded or double-encoded separators, NUL, over-long, backslashes)
and whatever symlinks a user manages to put inside their workspace."""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from datalabs.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied
from datalabs.storage.beneath import Beneath
from datalabs.storage.safepath import MAX_NAME_BYTES, MAX_PATH_BYTES, parse_parts
from tests.storage.conftest import leftovers, tree

SECRET = b"TOP-SECRET-outside-the-workspace-9c1e"
BOBS = b"bob's private notes 51d2"


# -- safepath.parse_parts -------------------------------------------------------------------

@pytest.mark.parametrize(("path", "parts"), [
    ("", []),
    ("my_workspace", ["my_workspace"]),
    ("my_workspace/", ["my_workspace"]),
    ("my_workspace/a/b c/d.txt", ["my_workspace", "a", "b c", "d.txt"]),
    ("my_workspace/...", ["my_workspace", "..."]),
    ("my_workspace/a..b/.hidden", ["my_workspace", "a..b", ".hidden"]),
    ("my_workspace/données/été.fits", ["my_workspace", "données", "été.fits"]),
    ("my_workspace/100%", ["my_workspace", "100%"]),
    ("my_workspace/%41", ["my_workspace", "%41"]),  # an encoded letter is just a name
    ("my_workspace/" + "n" * MAX_NAME_BYTES, ["my_workspace", "n" * MAX_NAME_BYTES]),
])
def test_parse_parts_accepts(path, parts):
    assert parse_parts(path) == parts


@pytest.mark.parametrize(("path", "reason"), [
    ("/etc/passwd", "absolute"),
    ("/", "absolute"),
    ("..", "'..'"),
    ("my_workspace/..", "'..'"),
    ("my_workspace/../secret", "'..'"),
    ("my_workspace/a/../../b", "'..'"),
    ("./my_workspace", "'.'"),
    ("my_workspace/./a", "'.'"),
    ("my_workspace//a", "empty"),
    ("my_workspace/a//", "empty"),
    ("my_workspace\\..\\secret", "backslash"),
    ("my_workspace/a\\b", "backslash"),
    ("my_workspace/a\x00b", "control"),
    ("my_workspace/a\nb", "control"),
    ("my_workspace/a\x7fb", "control"),
    ("my_workspace/%2e%2e/secret", "URL-encoded"),
    ("my_workspace/%2E%2E", "URL-encoded"),
    ("my_workspace/%2e", "URL-encoded"),
    ("my_workspace/a%2Fb", "URL-encoded"),
    ("my_workspace/a%2fb", "URL-encoded"),
    ("my_workspace/..%2Fsecret", "URL-encoded"),
    ("my_workspace/a%5Cb", "URL-encoded"),
    ("my_workspace/a%00b", "URL-encoded"),
    ("my_workspace/a%252Fb", "URL-encoded"),
    ("my_workspace/%252e%252e", "URL-encoded"),
    ("my_workspace/a%25252Fb", "URL-encoded"),
    ("my_workspace/" + "n" * (MAX_NAME_BYTES + 1), "longer than 255"),
    ("my_workspace/" + "é" * 128, "longer than 255"),  # 256 bytes in UTF-8
    ("my_workspace/" + "/".join(["d" * 200] * 21), "longer than 4096"),
    ("a/" * 2049, "longer than 4096"),
])
def test_parse_parts_refuses(path, reason):
    with pytest.raises(InvalidInput) as caught:
        parse_parts(path)
    assert caught.value.code == "invalid_path" and caught.value.field == "path"
    assert reason in caught.value.message


def test_refusal_message_is_bounded():
    with pytest.raises(InvalidInput) as caught:
        parse_parts("/" + "x" * 10000)
    assert len(caught.value.message) < 500


# -- storage.beneath.Beneath ------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(SECRET)
    return folder


@pytest.fixture
def box(tmp_path, outside) -> Path:
    """A workspace-like root holding a file, a folder and symlinks that lead outside."""
    root = tmp_path / "box"
    (root / "dir").mkdir(parents=True)
    (root / "dir" / "inner.txt").write_bytes(b"inner")
    (root / "file.txt").write_bytes(b"file")
    os.symlink(outside / "secret.txt", root / "link_file")
    os.symlink(outside, root / "link_dir")
    os.symlink("/etc", root / "link_etc")
    os.symlink("../outside/secret.txt", root / "dir" / "relative_link")
    os.symlink("file.txt", root / "inside_link")  # even links that stay inside are not followed here
    return root


def refused(call):
    with pytest.raises(PermissionDenied) as caught:
        call()
    assert caught.value.code == "symlink_refused"


def test_beneath_reads_regular_things(box):
    beneath = Beneath(str(box), shown_as="my_workspace")
    assert beneath.stat(["file.txt"]).size == 4
    assert beneath.stat([]).type == "directory"
    names = {e.name: e.type for e in beneath.list([])}
    assert names == {"dir": "directory", "file.txt": "file", "link_file": "symlink", "link_dir": "symlink",
                     "link_etc": "symlink", "inside_link": "symlink"}
    assert all(e.size == 0 for e in beneath.list([]) if e.type == "symlink")
    fd, st = beneath.open_file(["dir", "inner.txt"])
    try:
        assert os.read(fd, 100) == b"inner" and st.st_size == 5
    finally:
        os.close(fd)
    with pytest.raises(NotFound):
        beneath.stat(["nope"])
    with pytest.raises(InvalidInput):
        beneath.open_file(["dir"])


def test_beneath_never_follows_a_symlink_in_a_workspace(box, outside):
    beneath = Beneath(str(box), shown_as="my_workspace")
    for parts in (["link_file"], ["link_dir"], ["link_etc"], ["inside_link"], ["dir", "relative_link"]):
        refused(lambda: beneath.stat(parts))
        refused(lambda: beneath.open_file(parts))
    for parts in (["link_dir"], ["link_etc"]):
        refused(lambda: beneath.list(parts))
    refused(lambda: beneath.stat(["link_dir", "secret.txt"]))
    refused(lambda: beneath.open_file(["link_dir", "secret.txt"]))
    refused(lambda: beneath.open_file(["link_etc", "passwd"]))
    refused(lambda: beneath.mkdir(["link_dir", "new"]))
    refused(lambda: beneath.mkdir(["link_dir", "new", "deeper"], parents=True))
    refused(lambda: beneath.delete(["link_dir", "secret.txt"]))
    refused(lambda: beneath.move_to(["file.txt"], beneath, ["link_dir", "file.txt"]))
    refused(lambda: beneath.move_to(["link_dir", "secret.txt"], beneath, ["stolen.txt"]))
    refused(lambda: beneath.open_dir(["link_dir"]))
    with pytest.raises(AlreadyExists):
        beneath.move_to(["file.txt"], beneath, ["link_file"])
    with pytest.raises(AlreadyExists):
        beneath.mkdir(["link_dir"])
    assert tree(outside) == {"secret.txt": SECRET}
    assert (box / "file.txt").read_bytes() == b"file"


def test_beneath_deletes_the_link_not_its_target(box, outside):
    beneath = Beneath(str(box), shown_as="my_workspace")
    beneath.delete(["link_dir"], recursive=True)
    beneath.delete(["link_file"])
    beneath.delete(["link_etc"], recursive=True)
    assert not os.path.lexists(box / "link_dir") and not os.path.lexists(box / "link_file")
    assert tree(outside) == {"secret.txt": SECRET}
    assert Path("/etc/passwd").exists()


def test_recursive_delete_does_not_follow_links_inside(box, outside):
    os.symlink(outside, box / "dir" / "nested_link")
    Beneath(str(box), shown_as="my_workspace").delete(["dir"], recursive=True)
    assert not (box / "dir").exists()
    assert tree(outside) == {"secret.txt": SECRET}


def test_usage_does_not_count_what_links_point_at(box, outside):
    (outside / "huge.bin").write_bytes(b"h" * 100_000)
    assert Beneath(str(box), shown_as="my_workspace").usage() == len(b"inner") + len(b"file")


def test_beneath_refuses_fifos_without_hanging(box):
    os.mkfifo(box / "pipe")
    beneath = Beneath(str(box), shown_as="my_workspace")
    assert beneath.stat(["pipe"]).type == "other"
    with pytest.raises(InvalidInput) as caught:
        beneath.open_file(["pipe"])
    assert caught.value.code == "not_a_file"


@pytest.fixture
def volume(tmp_path, outside) -> Path:
    root = tmp_path / "volume"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "img.dat").write_bytes(b"image")
    (root / "data" / "sub" / "deep.txt").write_bytes(b"deep")
    os.symlink("data/img.dat", root / "alias.dat")
    os.symlink("data", root / "aliasdir")
    os.symlink("../aliasdir/sub", root / "data" / "loop_inside")
    os.symlink(outside / "secret.txt", root / "escape.txt")
    os.symlink(outside, root / "escapedir")
    os.symlink("../../outside", root / "data" / "relative_escape")
    os.symlink("escape.txt", root / "chain.txt")  # inside link to a link that leaves
    return root


def test_volume_follows_links_that_stay_inside(volume):
    beneath = Beneath(str(volume), shown_as="data/vol", follow_inside_symlinks=True)
    assert beneath.stat(["alias.dat"]).type == "file" and beneath.stat(["alias.dat"]).size == 5
    fd, _ = beneath.open_file(["alias.dat"])
    assert os.read(fd, 10) == b"image"
    os.close(fd)
    assert {e.name for e in beneath.list(["aliasdir"])} >= {"img.dat", "sub"}
    fd, _ = beneath.open_file(["aliasdir", "sub", "deep.txt"])
    assert os.read(fd, 10) == b"deep"
    os.close(fd)
    fd, _ = beneath.open_file(["data", "loop_inside", "deep.txt"])
    os.close(fd)
    types = {e.name: e.type for e in beneath.list([])}
    assert types["alias.dat"] == "file" and types["aliasdir"] == "directory"
    assert types["escape.txt"] == "symlink" and types["escapedir"] == "symlink" and types["chain.txt"] == "symlink"


def test_volume_refuses_links_that_leave(volume, outside):
    beneath = Beneath(str(volume), shown_as="data/vol", follow_inside_symlinks=True)
    for parts in (["escape.txt"], ["chain.txt"], ["escapedir", "secret.txt"], ["data", "relative_escape", "secret.txt"]):
        with pytest.raises(PermissionDenied):
            fd, _ = beneath.open_file(parts)
            os.close(fd)
    for parts in (["escapedir"], ["data", "relative_escape"]):
        with pytest.raises(PermissionDenied):
            beneath.list(parts)
    with pytest.raises(PermissionDenied):
        beneath.stat(["escape.txt"])


# -- the file API ----------------------------------------------------------------------------

@pytest.fixture
def scene(new_user, auth, workspace, outside, make_volume, tmp_path):
    new_user("alice")
    new_user("bob")
    home = workspace("alice")
    (home / "real.txt").write_bytes(b"real")
    (home / "folder").mkdir()
    (workspace("bob") / "private.txt").write_bytes(BOBS)
    os.symlink(outside / "secret.txt", home / "link_file")
    os.symlink(outside, home / "link_dir")
    os.symlink("/etc", home / "link_etc")
    os.symlink(workspace("bob"), home / "link_bob")
    os.symlink(workspace("bob") / "private.txt", home / "link_bob_file")
    os.symlink("../../../../outside", home / "folder" / "up_and_out")
    return {"alice": auth("alice"), "bob": auth("bob"), "home": home, "outside": outside,
            "bob_home": workspace("bob")}


def snapshot(scene, settings):
    return tree(scene["outside"]), tree(scene["bob_home"]), tree(settings.workspaces_dir)


def no_leak(response):
    for secret in (SECRET, BOBS, b"root:x:0:0"):
        assert secret not in response.content, response.request.url


LINKS = ["link_file", "link_dir", "link_etc", "link_bob", "link_bob_file"]
THROUGH = ["link_dir/secret.txt", "link_etc/passwd", "link_etc/hostname", "link_bob/private.txt",
           "folder/up_and_out/secret.txt"]


def test_reads_through_symlinks_are_refused(client, scene, settings):
    before = snapshot(scene, settings)
    for path in LINKS + THROUGH:
        for url in (f"/api/v1/files/my_workspace/{path}", f"/api/v1/content/my_workspace/{path}"):
            response = client.get(url, headers=scene["alice"])
            assert response.status_code == 403, (url, response.text)
            assert response.json()["error"]["code"] == "symlink_refused"
            no_leak(response)
        response = client.head(f"/api/v1/content/my_workspace/{path}", headers=scene["alice"])
        assert response.status_code == 403
    listing = client.get("/api/v1/files/my_workspace", headers=scene["alice"])
    no_leak(listing)
    assert {e["name"]: e["type"] for e in listing.json()["entries"] if e["name"].startswith("link")} == \
        dict.fromkeys(LINKS, "symlink")
    assert all(e["size"] == 0 for e in listing.json()["entries"] if e["type"] == "symlink")
    assert snapshot(scene, settings) == before


def test_writes_through_symlinks_are_refused(client, scene, settings, uploads_dir):
    alice = scene["alice"]
    before = snapshot(scene, settings)
    attempts = [
        ("PUT", "/api/v1/content/my_workspace/link_dir/new.txt", {}),
        ("PUT", "/api/v1/content/my_workspace/link_dir/sub/new.txt?parents=true", {}),
        ("PUT", "/api/v1/content/my_workspace/link_bob/new.txt", {}),
        ("PUT", "/api/v1/content/my_workspace/link_bob/private.txt?overwrite=true", {}),
        ("PUT", "/api/v1/content/my_workspace/link_file?overwrite=true", {}),
        ("PUT", "/api/v1/content/my_workspace/link_bob_file?overwrite=true", {}),
        ("PUT", "/api/v1/content/my_workspace/folder/up_and_out/new.txt", {}),
        ("POST", "/api/v1/files/my_workspace/link_dir/newdir", {"json": {}}),
        ("POST", "/api/v1/files/my_workspace/link_dir/a/b", {"json": {"parents": True}}),
        ("POST", "/api/v1/files/my_workspace/link_etc/newdir", {"json": {}}),
        ("PATCH", "/api/v1/files/my_workspace/real.txt", {"json": {"path": "my_workspace/link_dir/real.txt"}}),
        ("PATCH", "/api/v1/files/my_workspace/real.txt", {"json": {"path": "my_workspace/link_bob/real.txt"}}),
        ("PATCH", "/api/v1/files/my_workspace/link_dir/secret.txt", {"json": {"path": "my_workspace/stolen.txt"}}),
        ("PATCH", "/api/v1/files/my_workspace/link_bob/private.txt", {"json": {"path": "my_workspace/stolen.txt"}}),
        ("PATCH", "/api/v1/files/my_workspace/folder", {"json": {"path": "my_workspace/link_dir/folder"}}),
        ("DELETE", "/api/v1/files/my_workspace/link_dir/secret.txt", {}),
        ("DELETE", "/api/v1/files/my_workspace/link_bob/private.txt", {}),
        ("DELETE", "/api/v1/files/my_workspace/folder/up_and_out/secret.txt", {}),
    ]
    for method, url, kwargs in attempts:
        if method == "PUT":
            kwargs = {"content": b"pwned"}
        response = client.request(method, url, headers=alice, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["error"]["code"] == "symlink_refused"
        no_leak(response)
    # onto a symlink: the name is taken, nothing is replaced or written through it
    for method, url, kwargs in [
        ("PUT", "/api/v1/content/my_workspace/link_file", {"content": b"pwned"}),
        ("PATCH", "/api/v1/files/my_workspace/real.txt", {"json": {"path": "my_workspace/link_file"}}),
        ("PATCH", "/api/v1/files/my_workspace/real.txt", {"json": {"path": "my_workspace/link_dir"}}),
        ("POST", "/api/v1/files/my_workspace/link_dir", {"json": {}}),
    ]:
        response = client.request(method, url, headers=alice, **kwargs)
        assert response.status_code in (403, 409), (method, url, response.text)
    assert snapshot(scene, settings) == before
    assert os.path.islink(scene["home"] / "link_file")
    assert leftovers(uploads_dir) == []


def test_moving_a_symlink_to_a_team_workspace_is_refused(client, scene, make_user, auth, settings):
    make_user("alice", password=None, teams={"astro": True})
    response = client.patch("/api/v1/files/my_workspace/link_dir", json={"path": "team_workspaces/astro/l"},
                            headers=auth("alice"))
    assert response.status_code == 403
    assert not os.path.lexists(settings.workspaces_dir / "teams" / "astro" / "l")


def test_deleting_a_symlink_removes_only_the_link(client, scene):
    alice = scene["alice"]
    for name in ("link_dir", "link_bob", "link_etc"):
        assert client.delete(f"/api/v1/files/my_workspace/{name}?recursive=true", headers=alice).status_code == 204
        assert not os.path.lexists(scene["home"] / name)
    assert client.delete("/api/v1/files/my_workspace/link_file", headers=alice).status_code == 204
    assert tree(scene["outside"]) == {"secret.txt": SECRET}
    assert tree(scene["bob_home"]) == {"private.txt": BOBS}
    assert Path("/etc/passwd").exists()


def test_symlinked_workspace_folder_in_a_team_workspace(client, new_user, auth, team_workspace, outside):
    new_user("mike", teams={"astro": False})
    os.symlink(outside, team_workspace("astro") / "shared")
    for response in (
        client.get("/api/v1/content/team_workspaces/astro/shared/secret.txt", headers=auth("mike")),
        client.get("/api/v1/files/team_workspaces/astro/shared", headers=auth("mike")),
        client.put("/api/v1/content/team_workspaces/astro/shared/x", content=b"x", headers=auth("mike")),
    ):
        assert response.status_code == 403
        no_leak(response)
    assert tree(outside) == {"secret.txt": SECRET}


def test_fifo_in_a_workspace_does_not_hang_a_download(client, scene):
    os.mkfifo(scene["home"] / "pipe")
    response = client.get("/api/v1/content/my_workspace/pipe", headers=scene["alice"])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "not_a_file"


def test_volume_symlinks_inside_are_followed_outside_refused(client, make_volume, outside):
    root = make_volume("linked", files={"data/img.dat": "image", "data/sub/deep.txt": "deep"})
    os.symlink("data/img.dat", root / "alias.dat")
    os.symlink("data", root / "aliasdir")
    os.symlink(outside / "secret.txt", root / "escape.txt")
    os.symlink(outside, root / "escapedir")
    os.symlink("../../outside/secret.txt", root / "data" / "relative_escape.txt")
    assert client.get("/api/v1/content/data/linked/alias.dat").content == b"image"
    assert client.get("/api/v1/content/data/linked/aliasdir/sub/deep.txt").content == b"deep"
    assert client.get("/api/v1/files/data/linked/aliasdir").json()["type"] == "directory"
    assert client.get("/api/v1/files/data/linked/alias.dat").json()["size"] == 5
    for path in ("escape.txt", "escapedir/secret.txt", "data/relative_escape.txt"):
        for url in (f"/api/v1/content/data/linked/{path}", f"/api/v1/files/data/linked/{path}"):
            response = client.get(url)
            assert response.status_code == 403, url
            no_leak(response)
    response = client.get("/api/v1/files/data/linked/escapedir")
    assert response.status_code == 403
    no_leak(response)


# bad paths through the in-process client (httpx keeps percent-encoding; it would collapse a literal '..')

BAD_URL_PATHS = [
    "my_workspace/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
    "my_workspace/%2E%2E/bob/private.txt",
    "my_workspace%2F..%2F..%2F..%2F..%2Foutside%2Fsecret.txt",
    "my_workspace/..%2F..%2F..%2F..%2Foutside%2Fsecret.txt",
    "my_workspace/%252e%252e/%252e%252e/bob/private.txt",
    "my_workspace/..%252F..%252Fbob%252Fprivate.txt",
    "my_workspace/real.txt%00.png",
    "my_workspace/%00",
    "my_workspace/..%5C..%5Cbob%5Cprivate.txt",
    "my_workspace/" + "n" * 256,
    "my_workspace/" + "/".join(["d" * 250] * 17),
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/outside/secret.txt",
    "data/%2e%2e/%2e%2e/outside/secret.txt",
    "team_workspaces/%2e%2e/users/bob/private.txt",
]


@pytest.mark.parametrize("path", BAD_URL_PATHS, ids=lambda p: p[:60])
def test_bad_paths_are_refused_everywhere(client, scene, settings, path, uploads_dir):
    alice = scene["alice"]
    before = snapshot(scene, settings)
    responses = [
        client.get(f"/api/v1/files/{path}", headers=alice),
        client.get(f"/api/v1/content/{path}", headers=alice),
        client.head(f"/api/v1/content/{path}", headers=alice),
        client.put(f"/api/v1/content/{path}", content=b"pwned", headers=alice),
        client.put(f"/api/v1/content/{path}?overwrite=true&parents=true", content=b"pwned", headers=alice),
        client.post(f"/api/v1/files/{path}", json={"parents": True}, headers=alice),
        client.patch(f"/api/v1/files/{path}", json={"path": "my_workspace/stolen.txt"}, headers=alice),
        client.delete(f"/api/v1/files/{path}?recursive=true", headers=alice),
        client.get(f"/api/v1/content/{path}"),  # anonymous
    ]
    for response in responses:
        where = (response.request.method, path[:80], response.text[:200])
        assert response.status_code == 422, where
        if response.request.method != "HEAD":
            assert response.json()["error"]["code"] == "invalid_path", where
        no_leak(response)
    assert snapshot(scene, settings) == before
    assert leftovers(uploads_dir) == []


BAD_DESTINATIONS = ["../../../../outside/pwned.txt", "my_workspace/../../bob/pwned.txt", "/etc/pwned",
                    "my_workspace/%2e%2e/pwned", "my_workspace/..%2Fbob", "my_workspace\\..\\bob",
                    "my_workspace/a\x00b", "my_workspace/" + "n" * 256, "my_workspace//x", "my_workspace/./x"]


@pytest.mark.parametrize("destination", BAD_DESTINATIONS, ids=lambda p: p[:40])
def test_bad_move_destinations(client, scene, settings, destination):
    before = snapshot(scene, settings)
    response = client.patch("/api/v1/files/my_workspace/real.txt", json={"path": destination},
                            headers=scene["alice"])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_path"
    assert snapshot(scene, settings) == before


# the same over real HTTP, with raw request targets that no client library would clean up

def raw_request(live_server, method, target, headers=None, body=b""):
    parts = urlsplit(live_server)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        if method in ("PUT", "POST", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


RAW_TARGETS = [
    "my_workspace/../../../../outside/secret.txt",
    "my_workspace/../bob/private.txt",
    "my_workspace/./../../bob/private.txt",
    "../../../../../../etc/passwd",
    "my_workspace//..//..//bob/private.txt",
    "my_workspace/..\\..\\bob\\private.txt",
    "my_workspace/%2e%2e/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
    "my_workspace%2F..%2F..%2F..%2F..%2Foutside%2Fsecret.txt",
    "my_workspace/%252e%252e/bob/private.txt",
    "my_workspace/a%00b",
    "my_workspace/" + "n" * 256,
    "my_workspace/" + "/".join(["d" * 250] * 17),
    "data/../../../../outside/secret.txt",
    "team_workspaces/../users/bob/private.txt",
]


@pytest.mark.live
def test_raw_http_paths_are_refused(live_server, scene, settings, uploads_dir):
    alice = {"Authorization": scene["alice"]["Authorization"]}
    before = snapshot(scene, settings)
    for target in RAW_TARGETS:
        for method, prefix, body in [("GET", "/api/v1/content/", b""), ("GET", "/api/v1/files/", b""),
                                     ("HEAD", "/api/v1/content/", b""), ("PUT", "/api/v1/content/", b"pwned"),
                                     ("DELETE", "/api/v1/files/", b""), ("POST", "/api/v1/files/", b"{}")]:
            headers = dict(alice)
            if method == "POST":
                headers["Content-Type"] = "application/json"
            status, content = raw_request(live_server, method, prefix + target, headers, body)
            assert status == 422, (method, target, status, content[:300])
            if method != "HEAD":
                assert b'"invalid_path"' in content
            for secret in (SECRET, BOBS, b"root:x:0:0"):
                assert secret not in content, (method, target)
    status, content = raw_request(live_server, "GET", "/api/v1/content/../../../../../etc/passwd")
    assert status in (400, 404, 422) and b"root:x:0:0" not in content
    # the real thing still works over the same route
    status, content = raw_request(live_server, "GET", "/api/v1/content/my_workspace/real.txt", alice)
    assert (status, content) == (200, b"real")
    for method, target, body in [
        ("GET", "/api/v1/content/my_workspace/link_dir/secret.txt", b""),
        ("GET", "/api/v1/content/my_workspace/link_file", b""),
        ("GET", "/api/v1/content/my_workspace/link_etc/passwd", b""),
        ("GET", "/api/v1/content/my_workspace/link_bob/private.txt", b""),
        ("GET", "/api/v1/files/my_workspace/link_etc", b""),
        ("GET", "/api/v1/files/my_workspace/link_bob_file", b""),
        ("GET", "/api/v1/files/my_workspace/folder/up_and_out", b""),
        ("PUT", "/api/v1/content/my_workspace/link_dir/pwned.txt", b"pwned"),
        ("PUT", "/api/v1/content/my_workspace/link_bob/pwned.txt?parents=true", b"pwned"),
        ("PUT", "/api/v1/content/my_workspace/link_file?overwrite=true", b"pwned"),
        ("DELETE", "/api/v1/files/my_workspace/link_bob/private.txt", b""),
        ("POST", "/api/v1/files/my_workspace/link_dir/newdir", b"{}"),
    ]:
        headers = {**alice, "Content-Type": "application/json"} if method == "POST" else alice
        status, content = raw_request(live_server, method, target, headers, body)
        assert status == 403, (method, target, status, content[:200])
        assert b"symlink_refused" in content
        for secret in (SECRET, BOBS, b"root:x:0:0"):
            assert secret not in content
    assert snapshot(scene, settings) == before
    assert leftovers(uploads_dir) == []


@pytest.mark.live
def test_raw_dot_segments_are_refused_not_resolved(live_server, scene):
    """A literal '..' must be refused with invalid_path: it is never resolved into another route."""
    alice = {"Authorization": scene["alice"]["Authorization"]}
    status, content = raw_request(live_server, "GET", "/api/v1/files/my_workspace/folder/../real.txt", alice)
    assert status == 422 and b"invalid_path" in content
    status, content = raw_request(live_server, "PUT", "/api/v1/content/my_workspace/folder/../x.txt", alice, b"x")
    assert status == 422 and b"invalid_path" in content
    assert not (scene["home"] / "x.txt").exists()
