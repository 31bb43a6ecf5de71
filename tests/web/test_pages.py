"""Every page renders for a logged-in user; pages that need a login send visitors to it."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import log_in

PAGES = ["/", "/volumes", "/browse/", "/browse/my_workspace", "/browse/data", "/account", "/teams",
         "/datalabs", "/pipelines", "/runs", "/archive", "/discover"]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_for_a_logged_in_user(path, web, make_user, make_volume):
    make_user("alice", teams={"rosetta": True})
    make_volume("pds-samples", title="PDS samples")
    http = web("alice")
    response = http.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert '<main id="main"' in response.text
    assert 'id="logout"' in response.text


@pytest.mark.parametrize("path", ["/", "/account", "/teams", "/teams/rosetta", "/browse/my_workspace",
                                  "/browse/my_workspace/sub/dir", "/browse/team_workspaces",
                                  "/browse/team_workspaces/rosetta"])
def test_anonymous_visitor_is_sent_to_login(path, web, make_user):
    make_user("alice", teams={"rosetta": True})
    response = web().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert path in response.headers["location"].replace("%2F", "/")


def test_login_then_returns_to_the_page_asked_for(web, make_user):
    make_user("alice")
    http = web()
    target = http.get("/account").headers["location"]
    assert target == "/login?next=/account"
    page = http.get(target)
    assert 'name="next" value="/account"' in page.text
    response = log_in(http, "alice", next="/account")
    assert response.headers["location"] == "/account"


def test_navigation_marks_the_current_page(web, make_user):
    make_user("alice")
    http = web("alice")
    assert re.search(r'<a href="/volumes" aria-current="page">', http.get("/volumes").text)
    assert re.search(r'<a href="/volumes" aria-current="page">', http.get("/browse/data").text)
    workspace = http.get("/browse/my_workspace").text
    assert re.search(r'<a href="/browse/my_workspace" aria-current="page">', workspace)
    assert workspace.count('aria-current="page"') == 2  # the nav entry and the last breadcrumb
    assert re.search(r'<a href="/teams" aria-current="page">', http.get("/teams").text)


def test_the_discover_page_is_real(web, make_user, make_volume):
    make_user("alice")
    make_volume("pds-samples", title="PDS samples")
    page = web("alice").get("/discover")
    assert page.status_code == 200 and "Coming soon" not in page.text and "PDS samples" in page.text


def test_the_archive_page_is_real(web, make_user, make_volume):
    make_user("alice")
    make_volume("pds-samples", title="PDS samples")
    page = web("alice").get("/archive")
    assert page.status_code == 200 and "Coming soon" not in page.text
    assert "TAP" in page.text and 'id="adql-query"' in page.text and "PDS samples" in page.text


def test_every_input_has_a_label(web, make_user, make_volume):
    make_user("root", role="admin", teams={"rosetta": True})
    http = web("root")
    for path in ["/account", "/teams", "/teams/rosetta", "/browse/my_workspace", "/login", "/pipelines",
                 "/pipelines/import", "/archive"]:
        html = http.get(path).text
        for tag in re.findall(r"<input\b[^>]*>", html):
            if 'type="hidden"' in tag:
                continue
            field_id = re.search(r'id="([^"]+)"', tag)
            assert field_id, f"{path}: input without id: {tag}"
            assert f'for="{field_id.group(1)}"' in html, f"{path}: no label for {tag}"


def test_logout_needs_the_csrf_token(web, make_user):
    make_user("alice")
    http = web("alice")
    refused = http.post("/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text
    assert http.get("/account").status_code == 200  # still logged in
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/").text).group(1)
    assert http.post("/logout", data={"csrf_token": token}).status_code == 303
    assert http.get("/account").status_code == 303


def test_page_works_without_the_vendor_css(web, make_user, app):
    make_user("alice")
    page = web("alice").get("/")
    assert '<link rel="stylesheet" href="/static/app.css">' in page.text
    css = web().get("/static/app.css")
    assert css.status_code == 200 and "@layer fallback" in css.text


def test_expired_login_form_gives_a_fresh_one(web, make_user):
    from tests.conftest import PASSWORD

    make_user("alice")
    http = web()
    refused = http.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "old"})
    assert refused.status_code == 403 and "expired" in refused.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', refused.text).group(1)
    retry = http.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert retry.status_code == 303


def test_repeated_failed_logins_are_throttled(web, make_user, app):
    from tests.conftest import PASSWORD

    if getattr(app.state, "login_throttle", None) is None:
        pytest.skip("no login throttle in this app")
    make_user("alice")
    http = web()
    limit = app.state.settings.login_max_failures
    for _ in range(limit):
        assert log_in(http, "alice", "wrong-password").status_code == 401
    locked = log_in(http, "alice")
    assert locked.status_code == 429 and 'role="alert"' in locked.text and "Too many failed logins" in locked.text
    assert log_in(web(), "bob-does-not-exist", "x").status_code == 401
