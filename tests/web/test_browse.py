"""The archive volumes page and the file browser (no JavaScript: listing, paging, downloads)."""

from __future__ import annotations

import re
from datetime import timedelta

from datalabs.storage.datasets import today_utc
from datalabs.web.files import PAGE_SIZE


def test_volumes_page_lists_readable_volumes_with_embargo_badges(web, make_user, make_volume):
    make_user("alice", teams={"rosetta": False})
    make_user("carol")
    release = today_utc() + timedelta(days=30)
    make_volume("pds-samples", title="PDS samples", mission="Various", instrument="Many", domain="Space Science",
                description="Labels from many missions.")
    make_volume("osiris", private=True, teams=["rosetta"], release_date=release, title="OSIRIS NAC",
                mission="Rosetta", instrument="OSIRIS")
    page = web("alice").get("/volumes").text
    for text in ["PDS samples", "Various", "Many", "Space Science", "Labels from many missions.", "OSIRIS NAC"]:
        assert text in page
    assert 'href="/browse/data/pds-samples"' in page and 'href="/browse/data/osiris"' in page
    badge = re.search(r'<span class="badge badge-embargo">(.*?)</span>', page, re.S).group(1)
    assert "embargoed" in badge and release.isoformat() in badge and "(rosetta)" in badge
    assert page.count("badge-embargo") == 1

    carol = web("carol").get("/volumes").text
    assert "PDS samples" in carol and "OSIRIS" not in carol


def test_released_volume_has_no_badge(web, make_user, make_volume):
    make_user("alice")
    make_volume("old", private=True, release_date=today_utc() - timedelta(days=1), title="Old data")
    page = web("alice").get("/volumes").text
    assert "Old data" in page and "badge-embargo" not in page


def test_anonymous_visitors_browse_public_volumes_when_allowed(web, make_volume, make_user, settings):
    make_user("alice", teams={"rosetta": False})
    make_volume("pds-samples", title="PDS samples", files={"a/b.txt": "hello"})
    make_volume("osiris", private=True, teams=["rosetta"], title="OSIRIS NAC")
    visitor = web()
    volumes = visitor.get("/volumes")
    assert volumes.status_code == 200
    assert "PDS samples" in volumes.text and "OSIRIS" not in volumes.text
    assert 'href="/login?next=' in volumes.text
    top = visitor.get("/browse/")
    assert top.status_code == 200 and "my_workspace" not in top.text
    assert visitor.get("/browse/data/pds-samples/a").status_code == 200
    assert visitor.get("/api/v1/content/data/pds-samples/a/b.txt").content == b"hello"
    assert visitor.get("/browse/data/osiris").status_code == 404


def test_anonymous_browse_off_sends_visitors_to_login(web, make_volume, app):
    app.state.settings.anonymous_browse = False
    make_volume("pds-samples")
    visitor = web()
    for path in ["/volumes", "/browse/", "/browse/data/pds-samples"]:
        response = visitor.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path


def test_embargoed_volume_is_not_found_for_others(web, make_user, make_volume):
    make_user("alice", teams={"rosetta": False})
    make_user("carol")
    make_volume("osiris", private=True, teams=["rosetta"], files={"x/y.lbl": "LABEL"})
    carol = web("carol")
    for path in ["/browse/data/osiris", "/browse/data/osiris/x", "/browse/data/osiris/x/y.lbl"]:
        response = carol.get(path)
        assert response.status_code == 404, path
        assert "osiris" not in response.text.split("<main", 1)[1].replace("data/osiris", "")
    assert "osiris" not in carol.get("/browse/data").text
    alice = web("alice")
    assert alice.get("/browse/data/osiris/x").status_code == 200
    assert "y.lbl" in alice.get("/browse/data/osiris/x").text


def test_volume_listing_is_read_only_with_breadcrumbs_and_downloads(web, make_user, make_volume):
    make_user("alice")
    make_volume("pds", files={"data/img one.img": b"\x00" * 2048, "data/sub/x.txt": "x", "readme.txt": "hi"})
    page = web("alice").get("/browse/data/pds/data")
    assert page.status_code == 200
    html = page.text
    crumbs = re.search(r'<nav aria-label="Breadcrumb".*?</nav>', html, re.S).group(0)
    assert [m for m in re.findall(r'href="([^"]+)"', crumbs)] == ["/browse/", "/browse/data", "/browse/data/pds",
                                                                  "/browse/data/pds/data"]
    assert html.index(">sub<") < html.index(">img one.img<")  # folders first
    assert 'href="/api/v1/content/data/pds/data/img%20one.img"' in html
    assert "2.0 KiB" in html
    assert "read-only archive volume" in html
    assert 'id="file-tools"' not in html and "files.js" not in html and 'data-action="delete"' not in html


def test_workspace_listing_offers_write_controls_and_usage(web, make_user):
    make_user("alice")
    http = web("alice")
    headers = {"X-CSRF-Token": re.search(r'content="([^"]+)"', http.get("/").text.split('name="csrf-token"')[1]).group(1)}
    assert http.put("/api/v1/content/my_workspace/notes.txt", content=b"hello", headers=headers).status_code == 201
    assert http.post("/api/v1/files/my_workspace/results", json={"type": "directory"}, headers=headers).status_code == 201
    html = http.get("/browse/my_workspace").text
    assert 'id="file-tools"' in html and 'id="upload-input"' in html and "multiple" in html
    assert 'aria-live="polite"' in html
    assert 'data-name="notes.txt"' in html and 'data-name="results"' in html
    assert html.index('data-name="results"') < html.index('data-name="notes.txt"')
    assert "Workspace my_workspace: 5 B of 10.0 GiB" in html
    assert '<script src="/static/files.js"' in html


def test_top_level_lists_the_three_roots_without_write_controls(web, make_user):
    make_user("alice", teams={"rosetta": True})
    html = web("alice").get("/browse/").text
    for name in ["my_workspace", "team_workspaces", "data"]:
        assert f'href="/browse/{name}"' in html
    assert 'id="file-tools"' not in html
    assert "rosetta" in html  # the usage of each workspace
    teams = web("alice").get("/browse/team_workspaces").text
    assert 'href="/browse/team_workspaces/rosetta"' in teams and 'id="file-tools"' not in teams


def test_large_folders_are_paginated(web, make_user, make_volume):
    make_user("alice")
    make_volume("big", files={f"f{i:04d}.txt": "x" for i in range(PAGE_SIZE + 5)})
    http = web("alice")
    first = http.get("/browse/data/big").text
    assert first.count("<tr data-name=") == PAGE_SIZE
    assert f"Showing 1–{PAGE_SIZE} of {PAGE_SIZE + 5}" in first and 'href="?page=2"' in first
    second = http.get("/browse/data/big?page=2").text
    assert second.count("<tr data-name=") == 5 and 'href="?page=1"' in second
    assert http.get("/browse/data/big?page=99").status_code == 200
    assert http.get("/browse/data/big?page=nonsense").status_code == 200


def test_file_page_links_to_the_download(web, make_user, make_volume):
    make_user("alice")
    make_volume("pds", files={"readme.txt": "hello"})
    http = web("alice")
    page = http.get("/browse/data/pds/readme.txt")
    assert page.status_code == 200 and 'href="/api/v1/content/data/pds/readme.txt"' in page.text
    assert http.get("/api/v1/content/data/pds/readme.txt").content == b"hello"


def test_unknown_and_invalid_paths_show_error_pages(web, make_user):
    make_user("alice")
    http = web("alice")
    missing = http.get("/browse/my_workspace/nothing-here")
    assert missing.status_code == 404 and 'role="alert"' in missing.text
    assert http.get("/browse/elsewhere").status_code == 404
    assert http.get("/browse/my_workspace/a/%2E%2E/b").status_code in (404, 422)
