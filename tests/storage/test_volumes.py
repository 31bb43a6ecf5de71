"""Archive volumes: registered by admins only, always read-only, browsable and downloadable with
HTTP Range and ETag."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from datalabs.storage.datasets import DatasetService
from tests.storage.conftest import tree

DATA = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


@pytest.fixture
def admin(new_user):
    return new_user("root", role="admin")


@pytest.fixture
def vol(make_volume):
    return make_volume("rosetta", files={"README.txt": "read me\n", "data/img_0001.dat": DATA,
                                          "data/labels/img_0001.lbl": "PDS_VERSION_ID = PDS3\n"},
                       title="Rosetta OSIRIS", mission="Rosetta")


# -- registration ------------------------------------------------------------------------

def _names(db):
    db.expire_all()
    return [d.name for d in DatasetService(db).repo.all()]


def test_admin_registers_a_volume(client, auth, admin, tmp_path, db):
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    response = client.post("/api/v1/datasets", json={"name": "vol-1.0", "path": str(folder), "title": "A volume",
                                                      "mission": "Rosetta"}, headers=auth("root"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "vol-1.0" and body["path"] == str(folder.resolve())
    assert body["files_path"] == "data/vol-1.0" and body["embargoed"] is False
    assert _names(db) == ["vol-1.0"]
    assert client.get("/api/v1/content/data/vol-1.0/a.txt").content == b"a"


def test_only_admins_register_volumes(client, auth, new_user, token_for, tmp_path, db):
    new_user("alice")
    new_user("mod", role="moderator")
    new_user("root", role="admin")
    body = {"name": "vol", "path": str(tmp_path)}
    for headers in (auth("alice"), auth("mod"),
                    {"Authorization": "Bearer " + token_for("root", scopes=["read", "write"])}):
        response = client.post("/api/v1/datasets", json=body, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert client.post("/api/v1/datasets", json=body).status_code == 401
    assert _names(db) == []


@pytest.mark.parametrize("kind", ["missing", "plain file", "relative"])
def test_bad_volume_path(client, auth, admin, tmp_path, db, kind):
    (tmp_path / "plain-file").write_text("x")
    path = {"missing": tmp_path / "does-not-exist", "plain file": tmp_path / "plain-file",
            "relative": "no/such/relative/folder"}[kind]
    response = client.post("/api/v1/datasets", json={"name": "vol", "path": str(path)}, headers=auth("root"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert str(path) in error["message"] and error["field"] == "path"
    assert _names(db) == []


def test_duplicate_volume(client, auth, admin, vol, tmp_path, db):
    response = client.post("/api/v1/datasets", json={"name": "rosetta", "path": str(tmp_path)}, headers=auth("root"))
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]["message"]
    assert _names(db) == ["rosetta"]


@pytest.mark.parametrize("date", ["2024-13-01", "tomorrow", "01/02/2030", "2030-02-30"])
def test_malformed_release_date(client, auth, admin, tmp_path, db, date):
    response = client.post("/api/v1/datasets", json={"name": "vol", "path": str(tmp_path), "private": True,
                                                     "release_date": date}, headers=auth("root"))
    assert response.status_code == 422
    assert "release_date" in response.json()["error"]["message"]
    assert _names(db) == []


@pytest.mark.parametrize("name", ["Rosetta", "has space", "..", "a" * 65, "-dash", "a/b", "vol\n", "a..b"])
def test_invalid_volume_name(client, auth, admin, tmp_path, db, name):
    response = client.post("/api/v1/datasets", json={"name": name, "path": str(tmp_path)}, headers=auth("root"))
    assert response.status_code == 422
    assert "invalid volume name" in response.json()["error"]["message"]
    assert _names(db) == []


def test_teams_need_a_private_volume_and_must_exist(client, auth, admin, tmp_path, db, make_user):
    make_user("tara", password=None, teams={"astro": True})
    response = client.post("/api/v1/datasets", json={"name": "vol", "path": str(tmp_path), "teams": ["astro"]},
                           headers=auth("root"))
    assert response.status_code == 422
    response = client.post("/api/v1/datasets", json={"name": "vol", "path": str(tmp_path), "private": True,
                                                     "teams": ["nosuch"]}, headers=auth("root"))
    assert response.status_code == 404 and "nosuch" in response.json()["error"]["message"]
    assert _names(db) == []


def test_admin_updates_and_unregisters_a_volume(client, auth, admin, vol):
    before = tree(vol)
    response = client.patch("/api/v1/datasets/rosetta", json={"title": "New title"}, headers=auth("root"))
    assert response.status_code == 200 and response.json()["title"] == "New title"
    response = client.patch("/api/v1/datasets/rosetta", json={"release_date": "someday"}, headers=auth("root"))
    assert response.status_code == 422
    assert client.delete("/api/v1/datasets/rosetta", headers=auth("root")).status_code == 204
    assert client.get("/api/v1/datasets/rosetta").status_code == 404
    assert client.delete("/api/v1/datasets/rosetta", headers=auth("root")).status_code == 404
    assert tree(vol) == before  # the files are never touched


def test_host_path_is_shown_to_admins_only(client, auth, admin, new_user, vol):
    new_user("alice")
    assert "path" not in client.get("/api/v1/datasets/rosetta", headers=auth("alice")).json()
    assert str(vol) not in client.get("/api/v1/datasets", headers=auth("alice")).text
    assert str(vol) not in client.get("/api/v1/datasets").text
    assert client.get("/api/v1/datasets/rosetta", headers=auth("root")).json()["path"] == str(vol)


# -- read-only ---------------------------------------------------------------------------

def test_volume_is_read_only_through_the_file_api(client, auth, admin, new_user, vol, workspace):
    new_user("alice")
    workspace("alice")
    (workspace("alice") / "mine.txt").write_text("mine")
    before = tree(vol)
    for who in ("alice", "root"):
        headers = auth(who)
        attempts = [
            client.put("/api/v1/content/data/rosetta/README.txt?overwrite=true", content=b"vandalised", headers=headers),
            client.put("/api/v1/content/data/rosetta/new.txt", content=b"new", headers=headers),
            client.put("/api/v1/content/data/rosetta/data/deep/new.txt?parents=true", content=b"new", headers=headers),
            client.post("/api/v1/files/data/rosetta/newdir", json={}, headers=headers),
            client.patch("/api/v1/files/data/rosetta/README.txt", json={"path": "data/rosetta/moved.txt"},
                         headers=headers),
            client.patch("/api/v1/files/data/rosetta/README.txt", json={"path": "my_workspace/stolen.txt"},
                         headers=headers),
            client.patch("/api/v1/files/my_workspace/mine.txt", json={"path": "data/rosetta/mine.txt"},
                         headers=headers),
            client.delete("/api/v1/files/data/rosetta/README.txt", headers=headers),
            client.delete("/api/v1/files/data/rosetta/data?recursive=true", headers=headers),
        ]
        for response in attempts:
            assert response.status_code == 403, (who, response.request.url, response.text)
            assert response.json()["error"]["code"] == "read_only"
    assert tree(vol) == before
    assert (workspace("alice") / "mine.txt").read_text() == "mine"
    assert not (workspace("alice") / "stolen.txt").exists()


def test_volume_listing_says_read_only(client, vol):
    body = client.get("/api/v1/files/data/rosetta").json()
    assert body["writable"] is False and body["type"] == "directory"


def test_writes_to_the_virtual_folders_are_refused(client, auth, new_user):
    new_user("alice")
    for path in ("data/x", "team_workspaces/x", "x"):
        response = client.put(f"/api/v1/content/{path}", content=b"x", headers=auth("alice"))
        assert response.status_code in (403, 404), path
    assert client.post("/api/v1/files/data/newvol", json={}, headers=auth("alice")).status_code in (403, 404)


# -- browsing ----------------------------------------------------------------------------

def test_browse_volumes(client, vol):
    top = client.get("/api/v1/files").json()
    assert [e["name"] for e in top["entries"]] == ["data"]  # anonymous: no workspaces
    data = client.get("/api/v1/files/data").json()
    assert [e["name"] for e in data["entries"]] == ["rosetta"]
    root = client.get("/api/v1/files/data/rosetta").json()
    assert [(e["name"], e["type"]) for e in root["entries"]] == [("data", "directory"), ("README.txt", "file")]
    assert root["total"] == 2
    sub = client.get("/api/v1/files/data/rosetta/data/").json()
    assert sub["path"] == "data/rosetta/data"
    assert [e["path"] for e in sub["entries"]] == ["data/rosetta/data/labels", "data/rosetta/data/img_0001.dat"]


def test_stat_a_file(client, vol):
    body = client.get("/api/v1/files/data/rosetta/data/img_0001.dat").json()
    assert body["type"] == "file" and body["size"] == len(DATA) and body["entries"] is None
    assert body["name"] == "img_0001.dat" and body["path"] == "data/rosetta/data/img_0001.dat"


def test_listing_pages(client, make_volume):
    make_volume("many", files={f"f{i:03d}.txt": str(i) for i in range(25)})
    body = client.get("/api/v1/files/data/many?limit=10&offset=20").json()
    assert body["total"] == 25
    assert [e["name"] for e in body["entries"]] == [f"f{i:03d}.txt" for i in range(20, 25)]
    assert client.get("/api/v1/files/data/many?limit=0").status_code == 422


def test_missing_things_are_404(client, vol):
    for url in ("/api/v1/files/data/rosetta/nope.txt", "/api/v1/content/data/rosetta/nope.txt",
                "/api/v1/files/data/nosuchvol", "/api/v1/files/elsewhere", "/api/v1/files/data/rosetta/nope/deeper"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


def test_folder_cannot_be_downloaded(client, vol):
    response = client.get("/api/v1/content/data/rosetta/data")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "is_a_directory"


def test_file_is_not_a_folder(client, vol):
    response = client.get("/api/v1/files/data/rosetta/README.txt/inside")
    assert response.status_code in (404, 422)


def test_anonymous_browse_can_be_switched_off(settings, vol):
    from datalabs.app import create_app

    import anyio

    settings.anonymous_browse = False

    async def fetch():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://t") as c:
            return [await c.get(url) for url in ("/api/v1/datasets", "/api/v1/files/data/rosetta",
                                                  "/api/v1/content/data/rosetta/README.txt")]

    for response in anyio.run(fetch):
        assert response.status_code == 401


# -- downloads ---------------------------------------------------------------------------

URL = "/api/v1/content/data/rosetta/data/img_0001.dat"


def test_full_download(client, vol):
    response = client.get(URL)
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "img_0001.dat" in response.headers["content-disposition"]
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-0", 0, 0),
    ("bytes=100-199", 100, 199),
    ("bytes=-10", len(DATA) - 10, len(DATA) - 1),
    ("bytes=5-", 5, len(DATA) - 1),
    ("bytes=10000-999999", 10000, len(DATA) - 1),
    ("bytes=-999999", 0, len(DATA) - 1),
])
def test_range(client, vol, header, start, end):
    response = client.get(URL, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == DATA[start:end + 1]


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_range(client, vol, header):
    response = client.get(URL, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.content == b""


@pytest.mark.parametrize("header", ["items=0-5", "bytes=0-1,5-6", "bytes=9-3", "garbage"])
def test_unusable_range_sends_the_whole_file(client, vol, header):
    response = client.get(URL, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA


def test_etag_and_conditional_requests(client, vol):
    first = client.get(URL)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag == client.get(URL).headers["etag"]
    not_modified = client.get(URL, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert client.get(URL, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(URL, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
    since = first.headers["last-modified"]
    assert client.get(URL, headers={"If-Modified-Since": since}).status_code == 304
    # If-Range: the range only applies while the file is unchanged
    assert client.get(URL, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    stale = client.get(URL, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == DATA


def test_etag_changes_with_the_file(client, vol):
    etag = client.get(URL).headers["etag"]
    target = vol / "data" / "img_0001.dat"
    target.write_bytes(DATA + b"more")
    os.utime(target, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    response = client.get(URL, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.content == DATA + b"more"


def test_head_gives_headers_without_body(client, vol):
    response = client.head(URL)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == client.get(URL).headers["etag"]
    ranged = client.head(URL, headers={"Range": "bytes=-10"})
    assert ranged.status_code == 206 and ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes {len(DATA) - 10}-{len(DATA) - 1}/{len(DATA)}"


def test_empty_file(client, make_volume):
    make_volume("empty", files={"zero.bin": b""})
    response = client.get("/api/v1/content/data/empty/zero.bin")
    assert response.status_code == 200 and response.content == b"" and response.headers["content-length"] == "0"
    assert client.get("/api/v1/content/data/empty/zero.bin", headers={"Range": "bytes=0-"}).status_code == 416


def test_inline_only_for_safe_types(client, make_volume):
    make_volume("mixed", files={"page.html": "<script>alert(1)</script>", "notes.txt": "hello"})
    html = client.get("/api/v1/content/data/mixed/page.html?inline=true")
    assert html.headers["content-disposition"].startswith("attachment;")
    text = client.get("/api/v1/content/data/mixed/notes.txt?inline=true")
    assert text.headers["content-disposition"].startswith("inline;")


@pytest.mark.live
def test_range_and_streaming_over_real_http(live_server, make_volume):
    big = os.urandom(9 * 1024 * 1024 + 123)  # more than two read chunks
    make_volume("big", files={"big.bin": big})
    url = f"{live_server}/api/v1/content/data/big/big.bin"
    with httpx.Client(timeout=30) as http:
        digest = hashlib.sha256()
        with http.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(len(big))
            for chunk in response.iter_bytes():
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(big).hexdigest()
        part = http.get(url, headers={"Range": "bytes=4194300-4194310"})
        assert part.status_code == 206 and part.content == big[4194300:4194311]
        assert part.headers["content-range"] == f"bytes 4194300-4194310/{len(big)}"
        tail = http.get(url, headers={"Range": "bytes=-10"})
        assert tail.content == big[-10:]
        head = http.head(url)
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(big))
        assert http.get(url, headers={"Range": f"bytes={len(big)}-"}).status_code == 416
        assert http.get(url, headers={"If-None-Match": head.headers["etag"]}).status_code == 304


@pytest.mark.live
def test_client_that_goes_away_mid_download_does_not_hurt_the_server(live_server, make_volume):
    big = os.urandom(16 * 1024 * 1024)
    make_volume("big", files={"big.bin": big})
    url = f"{live_server}/api/v1/content/data/big/big.bin"
    with httpx.Client(timeout=30) as http:
        for _ in range(3):
            with http.stream("GET", url) as response:
                next(response.iter_raw(65536))
        assert http.get(url, headers={"Range": "bytes=0-3"}).content == big[:4]
        assert http.get(f"{live_server}/api/v1/health").status_code == 200


def test_release_date_needs_a_private_volume(client, auth, admin, tmp_path, db):
    response = client.post("/api/v1/datasets", json={"name": "vol", "path": str(tmp_path),
                                                     "release_date": "2099-01-01"}, headers=auth("root"))
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "release_date"
    assert _names(db) == []


def test_publishing_an_embargoed_volume_early(client, auth, admin, make_volume, make_user):
    make_user("tara", password=None, teams={"astro": True})
    make_volume("early", private=True, teams=["astro"], release_date="2099-01-01", files={"a.txt": "x"})
    response = client.patch("/api/v1/datasets/early", json={"private": False}, headers=auth("root"))
    assert response.status_code == 422  # the teams and the date would silently stop mattering
    assert client.get("/api/v1/content/data/early/a.txt").status_code == 404
    response = client.patch("/api/v1/datasets/early", json={"private": False, "teams": [], "release_date": None},
                            headers=auth("root"))
    assert response.status_code == 200, response.text
    assert client.get("/api/v1/content/data/early/a.txt").text == "x"


def test_volume_folder_gone_is_404_not_a_crash(client, make_volume):
    import shutil

    root = make_volume("gone", files={"sub/a.txt": "x"})
    shutil.rmtree(root)
    for url in ("/api/v1/files/data/gone", "/api/v1/files/data/gone/sub", "/api/v1/files/data/gone/sub/a.txt",
                "/api/v1/content/data/gone/sub/a.txt"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "data/gone is not available on this server" in response.json()["error"]["message"]
    assert [e["name"] for e in client.get("/api/v1/files/data").json()["entries"]] == ["gone"]


@pytest.mark.parametrize(("method", "url", "body", "status"), [
    ("GET", "/api/v1/datasets/a%00b", None, 404),
    ("PATCH", "/api/v1/datasets/a%00b", {"title": "x"}, 404),
    ("DELETE", "/api/v1/datasets/a%00b", None, 404),
    ("POST", "/api/v1/datasets", {"name": "a\x00b", "path": "{tmp}"}, 422),
    ("POST", "/api/v1/datasets", {"name": "vol", "path": "{tmp}\x00/x"}, 422),
    ("POST", "/api/v1/datasets", {"name": "vol", "path": "{tmp}", "title": "T\x00"}, 422),
    ("POST", "/api/v1/datasets", {"name": "vol", "path": "{tmp}", "private": True, "teams": ["a\x00b"]}, 404),
    ("PATCH", "/api/v1/datasets/rosetta", {"description": "x\x00"}, 422),
    ("PATCH", "/api/v1/datasets/rosetta", {"path": "/tmp\x00"}, 422),
])
def test_nul_never_reaches_the_database(client, auth, admin, vol, tmp_path, db, method, url, body, status):
    if isinstance(body, dict):
        body = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in body.items()}
    response = client.request(method, url, json=body, headers=auth("root"))
    assert response.status_code == status, response.text
    assert _names(db) == ["rosetta"]
    assert client.get("/api/v1/datasets/rosetta").json()["title"] == "Rosetta OSIRIS"


@pytest.mark.parametrize(("field", "limit"), [("title", 300), ("description", 10000), ("mission", 200),
                                              ("instrument", 200), ("domain", 200)])
def test_text_longer_than_its_column_is_refused(client, auth, admin, vol, field, limit):
    response = client.patch("/api/v1/datasets/rosetta", json={field: "x" * (limit + 1)}, headers=auth("root"))
    assert response.status_code == 422 and response.json()["error"]["field"] == field
    response = client.patch("/api/v1/datasets/rosetta", json={field: "x" * limit}, headers=auth("root"))
    assert response.status_code == 200 and response.json()[field] == "x" * limit
