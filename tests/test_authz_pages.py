"""The authorization matrix of the web pages: every page and form route x every persona.

Same scenario and personas as the API matrix (``tests/authz_scenario.py``). Here the personas are
web users: each logs in through the login form (GET /login for the form token and the pre-login
cookie, then POST /login) and from then on is known by the login cookie only, never by an API
token. Form posts carry the login's CSRF token, read from the ``<meta name="csrf-token">`` of a
page, so that the matrix tests authorization and not CSRF; the rows marked "wrong CSRF" or
"no CSRF" send a wrong token or none, and must be refused without changing anything.

Each row names one route (method + path as declared in the app), a concrete request and the
status each persona must get. Anonymous visitors are sent to the login page (303 to
``/login?next=...``) where a page needs a login. Besides the status, every case checks that

- a logged-in persona is never sent to the login page, and every page shown is rendered for the
  caller's own login (its CSRF meta tag is that login's token; empty for anonymous visitors);
- no web route changes a file (files change through the API only), a page view (GET, HEAD)
  changes nothing, and an anonymous visitor changes nothing except by logging in;
- a refused request (status >= 400, or sent to log in) changes neither the database nor a file;
- nobody sees what is not theirs: the markers of the API matrix (file contents, the embargoed
  volume's name and title, the team's name, alice's token prefix, host folders) and the names of
  files in other people's workspaces and in the embargoed volume. (The team name ``astro`` counts
  as a whole word only: the Archive page mentions "astroquery".)

The cases that must change nothing (checked: page views, refused requests, anonymous visitors
except when logging in) share one scenario per row and run as subtests of ``test_changes_nothing``;
each case that may change something gets a scenario of its own in ``test_allowed_change``.
``test_every_web_route_has_a_row`` fails when a page or form route is added without its row.

Speed: the personas' password hash is made once per scenario, with argon2's cheapest
parameters (the app's hasher is swapped for the test only): logging in still runs the real form,
the real password check and the real login session, in about a millisecond instead of 0.2 s.
The apps of the cases share their compiled templates (``SharedTemplateCode``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jinja2
import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import update

from datalabs.accounts import secrets
from datalabs.accounts.models import User
from datalabs.api.deps import LOGIN_COOKIE
from datalabs.app import create_app
from tests.authz_scenario import (
    EMBARGO_READERS,
    pipeline_cwl,
    PERSONAS,
    USERS,
    app_endpoints,
    db_snapshot,
    disk_snapshot,
    expect,
    fill,
    leaked,
    world,  # noqa: F401 - the scenario fixture
)
from tests.conftest import PASSWORD, in_process_client

LOGIN_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
WRONG_TOKEN = "Zm9yZ2VkLWNzcmYtdG9rZW4tdGhhdC1sb29rcy1yZWFs"
# Names of files only some personas may see (besides the markers of the scenario).
PAGE_MARKERS = {
    "notes.txt": {"owner"},
    "plan.txt": {"member", "team_admin"},
    "secret.txt": set(EMBARGO_READERS),
}


# -- expectations ------------------------------------------------------------------------------

def everyone(status):
    return expect(status)


def signed_in(status, **overrides):
    """Logged-in personas get ``status``; anonymous visitors are sent to log in."""
    return expect(status, anonymous=303, **overrides)


def owner_only(status, others=404):
    return expect(others, anonymous=303, owner=status)


def team_members(status):
    return expect(404, anonymous=303, member=status, team_admin=status)


def team_readers(status):
    """The team's page: its members and the platform admins."""
    return expect(404, anonymous=303, member=status, team_admin=status, admin=status)


def team_managers(status, member=403):
    """Changing the team's members: its admins and the platform admins; members are refused."""
    return expect(404, anonymous=303, member=member, team_admin=status, admin=status)


def embargo_readers(status):
    return expect(404, member=status, team_admin=status, admin=status)


def lab_reviewers(status):
    """alice's unpublished datalab: alice, the moderators and the admins; others get 404."""
    return expect(404, owner=status, moderator=status, admin=status)


def lab_importers(status):
    """Importing a datalab: developers (alice), moderators and admins; users are refused."""
    return expect(403, anonymous=303, owner=status, moderator=status, admin=status)


def session_keepers(status, others=404):
    """alice's session: alice, and admins (who run the platform); everyone else 404."""
    return expect(others, anonymous=303, owner=status, admin=status)


@dataclass(frozen=True)
class PageRow:
    method: str
    route: str  # as declared in the app, e.g. /browse/{path:path}
    url: str  # the request, with {placeholders} filled from the scenario
    expected: dict[str, int]
    form: dict | None = None  # POST: the form fields (the CSRF token is added as ``csrf`` says)
    csrf: str = "login"  # POST: "login" (the login's token), "login_form" (the login page's), "wrong", "missing"
    goes_to: str | dict[str, str] | None = None  # where a redirect that is not "log in first" must go
    anonymous_browse: bool = True  # the setting of the app
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}{' ' + self.note if self.note else ''}"

    def target(self, persona: str) -> str | None:
        return self.goes_to.get(persona) if isinstance(self.goes_to, dict) else self.goes_to


BROWSE = "/browse/{path:path}"
TOKENS = "/account/tokens"
REVOKE = "/account/tokens/{token_id}/revoke"
MEMBERS = "/teams/{name}/members"
SET_ADMIN = "/teams/{name}/members/{user}/admin"
REMOVE = "/teams/{name}/members/{user}/remove"
ALICE_LOGIN = {"username": "alice", "password": PASSWORD}
NEW_TOKEN = {"name": "matrix", "scopes": ["read"]}
OFF = "(anonymous_browse off)"
LAB = "/datalabs/{name}"
LAB_LOGO = "/datalabs/{name}/logo"
IMPORT_ZIP = "/datalabs/import/zip"
IMPORT_GIT = "/datalabs/import/git"
LAB_SUBMIT = "/datalabs/{name}/versions/{version}/submit"
LAB_PUBLISH = "/datalabs/{name}/versions/{version}/publish"
LAB_REJECT = "/datalabs/{name}/versions/{version}/reject"
LAB_OFFICIAL = "/datalabs/{name}/official"
LAB_WITHDRAW = "/datalabs/{name}/withdraw"
LAUNCH = "/datalabs/{name}/launch"
SESSION = "/sessions/{session_id}"
PIPE = "/pipelines/{name}"
PIPE_IMPORT = "/pipelines/import"
PIPE_IMPORT_FILE = "/pipelines/import/file"
PIPE_IMPORT_GIT = "/pipelines/import/git"
PIPE_IMPORT_TEXT = "/pipelines/import/text"
PIPE_SUBMIT = "/pipelines/{name}/versions/{version}/submit"
PIPE_PUBLISH = "/pipelines/{name}/versions/{version}/publish"
PIPE_REJECT = "/pipelines/{name}/versions/{version}/reject"
PIPE_RUN = "/pipelines/{name}/run"
RUN = "/runs/{run_id}"
RUN_CANCEL = "/runs/{run_id}/cancel"
RUN_AGAIN = "/runs/{run_id}/rerun"
NEW_PIPE = {"filename": "matrix.cwl", "text": pipeline_cwl("matrixpipe")}
ARCHIVE_PROBLEMS = "/archive/volumes/{name}/problems"
ARCHIVE_PRODUCT = "/archive/products/{key:path}"
ARCHIVE_SCAN = "/archive/volumes/{name}/scan"
RENEW = "/sessions/{session_id}/renew"
DESTROY = "/sessions/{session_id}/destroy"

PAGE_ROWS = [
    # logging in and out
    PageRow("GET", "/login", "/login", expect(303, anonymous=200), goes_to="/"),
    PageRow("POST", "/login", "/login", expect(403, anonymous=303), form=ALICE_LOGIN, csrf="login_form",
            goes_to="/"),  # logged in already: the login form is not offered, its token is missing
    PageRow("POST", "/login", "/login", expect(403, anonymous=303), form=ALICE_LOGIN | {"next": "//evil.example/x"},
            csrf="login_form", goes_to="/", note="(next elsewhere)"),
    PageRow("POST", "/login", "/login", expect(403, anonymous=401), form={"username": "alice", "password": "wrong-pw!"},
            csrf="login_form", note="(wrong password)"),
    PageRow("POST", "/login", "/login", everyone(403), form=ALICE_LOGIN, csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", "/login", "/login", everyone(403), form=ALICE_LOGIN, csrf="missing", note="(no CSRF)"),
    PageRow("POST", "/logout", "/logout", everyone(303), goes_to="/login"),
    PageRow("POST", "/logout", "/logout", expect(403, anonymous=303), csrf="wrong", goes_to="/login",
            note="(wrong CSRF)"),
    PageRow("POST", "/logout", "/logout", expect(403, anonymous=303), csrf="missing", goes_to="/login",
            note="(no CSRF)"),
    # pages
    PageRow("GET", "/", "/", signed_in(200)),
    PageRow("GET", "/volumes", "/volumes", everyone(200)),
    PageRow("GET", "/volumes", "/volumes", signed_in(200), anonymous_browse=False, note=OFF),
    PageRow("GET", "/account", "/account", signed_in(200)),
    PageRow("GET", "/teams", "/teams", signed_in(200)),
    PageRow("GET", "/teams/{name}", "/teams/astro", team_readers(200)),
    PageRow("GET", "/teams/{name}", "/teams/ghost", signed_in(404), note="(no such team)"),
    # discovery: one search over what each persona may see (the embargoed volume and alice's drafts are markers),
    # open to visitors like the archive; a search the index cannot run is a 400 page
    PageRow("GET", "/discover", "/discover", everyone(200)),
    PageRow("GET", "/discover", "/discover", signed_in(200), anonymous_browse=False, note=OFF),
    PageRow("GET", "/discover", "/discover?q=kappa%20comet&facet=asset_type:volume&sort=title", everyone(200),
            note="(search)"),
    PageRow("GET", "/discover", "/discover?facet=asset_type:volume", everyone(200), note="(volumes: Open in datalab)"),
    PageRow("GET", "/discover", '/discover?q=%22unclosed', everyone(400), note="(invalid search)"),
    # the archive: volumes (embvol to its readers only), ADQL editor, product search, label problems, products
    # (one on each volume: the embargoed one's identifier is a marker); scans are started by admins
    PageRow("GET", "/archive", "/archive", everyone(200)),
    PageRow("GET", "/archive", "/archive", signed_in(200), anonymous_browse=False, note=OFF),
    PageRow("GET", "/archive", "/archive?q=(TARGET_NAME%20eq%20%22MARS%22)", everyone(200), note="(search)"),
    PageRow("GET", "/archive", "/archive?q=(identifier%20eq", everyone(422), note="(invalid search)"),
    PageRow("GET", ARCHIVE_PROBLEMS, "/archive/volumes/pubvol/problems", everyone(200)),
    PageRow("GET", ARCHIVE_PROBLEMS, "/archive/volumes/embvol/problems", embargo_readers(200)),
    PageRow("GET", ARCHIVE_PROBLEMS, "/archive/volumes/ghost/problems", everyone(404), note="(no such volume)"),
    PageRow("GET", ARCHIVE_PRODUCT, "/archive/products/PUBLIC_PRODUCT_0001", everyone(200)),
    PageRow("GET", ARCHIVE_PRODUCT, "/archive/products/EMBARGOED_PRODUCT_6d0b", embargo_readers(200)),
    PageRow("GET", ARCHIVE_PRODUCT, "/archive/products/NO_SUCH_PRODUCT", everyone(404), note="(no such product)"),
    PageRow("GET", ARCHIVE_PRODUCT, "/archive/products/999999", everyone(404), note="(no such key)"),
    PageRow("POST", ARCHIVE_SCAN, "/archive/volumes/pubvol/scan", expect(403, anonymous=303, admin=303),
            goes_to="/archive#volume-pubvol"),
    PageRow("POST", ARCHIVE_SCAN, "/archive/volumes/ghost/scan", expect(403, anonymous=303, admin=404),
            note="(no such volume)"),
    PageRow("POST", ARCHIVE_SCAN, "/archive/volumes/embvol/scan", signed_in(403), csrf="wrong",
            note="(wrong CSRF)"),
    PageRow("POST", ARCHIVE_SCAN, "/archive/volumes/pubvol/scan", signed_in(403), csrf="missing", note="(no CSRF)"),
    # the datalab catalogue: alice (developer) owns draftlab (private), sublab (submitted), publab (published);
    # as in the API, the published datalabs are shown to anyone (even with anonymous_browse off)
    PageRow("GET", "/datalabs", "/datalabs", everyone(200)),
    PageRow("GET", "/datalabs", "/datalabs", everyone(200), anonymous_browse=False, note=OFF),
    PageRow("GET", "/datalabs", "/datalabs?q=lab&kind=jupyterlab", everyone(200), note="(search)"),
    PageRow("GET", LAB, "/datalabs/publab", everyone(200)),
    PageRow("GET", LAB, "/datalabs/draftlab", lab_reviewers(200)),
    PageRow("GET", LAB, "/datalabs/ghost", everyone(404), note="(no such datalab)"),
    PageRow("GET", LAB_LOGO, "/datalabs/publab/logo", everyone(404), note="(no logo)"),
    PageRow("GET", LAB_LOGO, "/datalabs/draftlab/logo", everyone(404), note="(no logo, private)"),
    PageRow("POST", IMPORT_ZIP, IMPORT_ZIP, lab_importers(422), note="(no file)"),
    PageRow("POST", IMPORT_ZIP, IMPORT_ZIP, signed_in(403), csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", IMPORT_GIT, IMPORT_GIT, lab_importers(422), form={"url": "https://127.0.0.1:9/x.git"}),
    PageRow("POST", IMPORT_GIT, IMPORT_GIT, signed_in(403), form={"url": "https://127.0.0.1:9/x.git"},
            csrf="missing", note="(no CSRF)"),
    PageRow("POST", LAB_SUBMIT, "/datalabs/draftlab/versions/1.0/submit",
            expect(404, anonymous=303, owner=303, moderator=403, admin=303), goes_to="/datalabs/draftlab"),
    PageRow("POST", LAB_SUBMIT, "/datalabs/draftlab/versions/1.0/submit",
            expect(404, anonymous=303, owner=403, moderator=403, admin=403), csrf="wrong",
            note="(wrong CSRF)"),
    PageRow("POST", LAB_PUBLISH, "/datalabs/sublab/versions/1.0/publish",
            expect(404, anonymous=303, owner=403, moderator=303, admin=303), goes_to="/datalabs/sublab"),
    PageRow("POST", LAB_PUBLISH, "/datalabs/publab/versions/1.0/publish",
            expect(403, anonymous=303, moderator=409, admin=409), note="(published already)"),
    PageRow("POST", LAB_REJECT, "/datalabs/sublab/versions/1.0/reject",
            expect(404, anonymous=303, owner=403, moderator=303, admin=303), form={"reason": "incomplete"},
            goes_to="/datalabs/sublab"),
    PageRow("POST", LAB_REJECT, "/datalabs/sublab/versions/1.0/reject",
            expect(404, anonymous=303, owner=422, moderator=422, admin=422),
            note="(no reason)"),  # the reason is checked first, as in the API
    PageRow("POST", LAB_OFFICIAL, "/datalabs/publab/official", expect(403, anonymous=303, moderator=303, admin=303),
            form={"official": "true"}, goes_to="/datalabs/publab"),
    PageRow("POST", LAB_OFFICIAL, "/datalabs/publab/official", signed_in(403), form={"official": "true"},
            csrf="missing", note="(no CSRF)"),
    PageRow("POST", LAB_WITHDRAW, "/datalabs/publab/withdraw",
            expect(403, anonymous=303, owner=303, moderator=303, admin=303), form={"withdrawn": "true"},
            goes_to="/datalabs/publab"),
    PageRow("POST", LAB_WITHDRAW, "/datalabs/draftlab/withdraw",
            expect(404, anonymous=303, owner=303, moderator=303, admin=303), form={"withdrawn": "true"},
            goes_to="/datalabs/draftlab", note="(a draft)"),
    # datalab sessions: alice runs {session} (publab); admins may see and stop it, nobody else
    PageRow("GET", "/sessions", "/sessions", signed_in(200)),
    PageRow("GET", SESSION, "/sessions/{session}", session_keepers(200)),
    PageRow("GET", SESSION, "/sessions/s_0000000000000000", signed_in(404), note="(no such session)"),
    PageRow("GET", LAUNCH, "/datalabs/publab/launch", signed_in(200)),
    PageRow("GET", LAUNCH, "/datalabs/publab/launch?volume=pubvol&volume=embvol", signed_in(200),
            note="(volumes pre-checked)"),
    PageRow("GET", LAUNCH, "/datalabs/draftlab/launch?version=1.0",
            expect(404, anonymous=303, owner=200, moderator=200, admin=200), note="(a draft: those who see it)"),
    PageRow("POST", LAUNCH, "/datalabs/publab/launch", signed_in(303), form={"cpu": "1", "teams_shown": "1"}),
    PageRow("POST", LAUNCH, "/datalabs/publab/launch", expect(404, anonymous=303, member=303, team_admin=303, admin=303),
            form={"volumes": "embvol"}, note="(embargoed volume)"),
    PageRow("POST", LAUNCH, "/datalabs/draftlab/launch", signed_in(404), note="(unpublished)"),
    PageRow("POST", LAUNCH, "/datalabs/publab/launch", signed_in(422), form={"cpu": "99"}, note="(too many CPUs)"),
    PageRow("POST", LAUNCH, "/datalabs/publab/launch", signed_in(403), csrf="missing", note="(no CSRF)"),
    PageRow("POST", RENEW, "/sessions/{session}/renew", session_keepers(303), goes_to="/sessions/{session}"),
    PageRow("POST", RENEW, "/sessions/{session}/renew", session_keepers(403), csrf="wrong",
            note="(wrong CSRF)"),  # the refusal is shown on the session's page: 404 for who may not see it
    PageRow("POST", DESTROY, "/sessions/{session}/destroy", session_keepers(303), goes_to="/sessions/{session}"),
    PageRow("POST", DESTROY, "/sessions/{session}/destroy", session_keepers(303), form={"back": "list"},
            goes_to="/sessions", note="(from My datalabs)"),
    PageRow("POST", DESTROY, "/sessions/{session}/destroy", session_keepers(403), csrf="missing", note="(no CSRF)"),
    # the pipeline catalogue: alice (developer) owns draftpipe (private), subpipe (submitted), pubpipe
    # (published); as in the API, published pipelines are shown to anyone (even with anonymous_browse off)
    PageRow("GET", "/pipelines", "/pipelines", everyone(200)),
    PageRow("GET", "/pipelines", "/pipelines", everyone(200), anonymous_browse=False, note=OFF),
    PageRow("GET", "/pipelines", "/pipelines?q=pipe&kind=step&sort=name", everyone(200), note="(search)"),
    PageRow("GET", PIPE, "/pipelines/pubpipe", everyone(200)),
    PageRow("GET", PIPE, "/pipelines/draftpipe", lab_reviewers(200)),
    PageRow("GET", PIPE, "/pipelines/pubpipe?version=9.9", everyone(404), note="(no such version)"),
    PageRow("GET", PIPE, "/pipelines/ghost", everyone(404), note="(no such pipeline)"),
    PageRow("GET", PIPE_IMPORT, PIPE_IMPORT, lab_importers(200)),
    PageRow("POST", PIPE_IMPORT_TEXT, PIPE_IMPORT_TEXT, lab_importers(303), form=NEW_PIPE,
            goes_to="/pipelines/matrixpipe?version=1.0"),
    PageRow("POST", PIPE_IMPORT_TEXT, PIPE_IMPORT_TEXT, lab_importers(422), form={"text": "class: Nothing"},
            note="(invalid CWL)"),
    PageRow("POST", PIPE_IMPORT_TEXT, PIPE_IMPORT_TEXT, signed_in(403), form=NEW_PIPE, csrf="missing",
            note="(no CSRF)"),
    PageRow("POST", PIPE_IMPORT_FILE, PIPE_IMPORT_FILE, lab_importers(422), note="(no file)"),
    PageRow("POST", PIPE_IMPORT_FILE, PIPE_IMPORT_FILE, signed_in(403), csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", PIPE_IMPORT_GIT, PIPE_IMPORT_GIT, lab_importers(422), form={"url": "https://127.0.0.1:9/x.git"}),
    PageRow("POST", PIPE_SUBMIT, "/pipelines/draftpipe/versions/1.0/submit",
            expect(404, anonymous=303, owner=303, moderator=403, admin=303),
            goes_to="/pipelines/draftpipe?version=1.0"),
    PageRow("POST", PIPE_SUBMIT, "/pipelines/draftpipe/versions/1.0/submit",
            expect(404, anonymous=303, owner=403, moderator=403, admin=403), csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", PIPE_PUBLISH, "/pipelines/subpipe/versions/1.0/publish",
            expect(404, anonymous=303, owner=403, moderator=303, admin=303), goes_to="/pipelines/subpipe?version=1.0"),
    PageRow("POST", PIPE_PUBLISH, "/pipelines/pubpipe/versions/1.0/publish",
            expect(403, anonymous=303, moderator=409, admin=409), note="(published already)"),
    PageRow("POST", PIPE_REJECT, "/pipelines/subpipe/versions/1.0/reject",
            expect(404, anonymous=303, owner=403, moderator=303, admin=303), form={"reason": "incomplete"},
            goes_to="/pipelines/subpipe?version=1.0"),
    PageRow("POST", PIPE_REJECT, "/pipelines/subpipe/versions/1.0/reject",
            expect(404, anonymous=303, owner=422, moderator=422, admin=422), note="(no reason)"),
    # pipeline runs: alice's run {run} of pubpipe (pending); admins may see and cancel it, nobody else
    PageRow("GET", PIPE_RUN, "/pipelines/pubpipe/run", signed_in(200)),
    PageRow("GET", PIPE_RUN, "/pipelines/draftpipe/run?version=1.0",
            expect(404, anonymous=303, owner=200, admin=200), note="(a draft: its developers)"),
    PageRow("GET", PIPE_RUN, "/pipelines/ghost/run", signed_in(404), note="(no such pipeline)"),
    PageRow("POST", PIPE_RUN, "/pipelines/pubpipe/run", signed_in(303), form={"input.message": "hi", "cpu": "1"}),
    PageRow("POST", PIPE_RUN, "/pipelines/pubpipe/run", expect(404, anonymous=303, member=303, team_admin=303),
            form={"input.message": "hi", "team": "astro"}, note="(to the team's workspace)"),
    PageRow("POST", PIPE_RUN, "/pipelines/pubpipe/run", signed_in(422), note="(missing input)"),
    PageRow("POST", PIPE_RUN, "/pipelines/draftpipe/run", signed_in(404), form={"input.message": "hi"},
            note="(unpublished)"),
    PageRow("POST", PIPE_RUN, "/pipelines/pubpipe/run", signed_in(403), form={"input.message": "hi"},
            csrf="missing", note="(no CSRF)"),
    PageRow("GET", "/runs", "/runs", signed_in(200)),
    PageRow("GET", RUN, "/runs/{run}", session_keepers(200)),
    PageRow("GET", RUN, "/runs/r_0000000000000000", signed_in(404), note="(no such run)"),
    PageRow("POST", RUN_CANCEL, "/runs/{run}/cancel", session_keepers(303), goes_to="/runs/{run}"),
    PageRow("POST", RUN_CANCEL, "/runs/{run}/cancel", session_keepers(403), csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", RUN_AGAIN, "/runs/{run}/rerun", expect(404, anonymous=303, owner=303)),  # admins cancel only
    PageRow("POST", RUN_AGAIN, "/runs/{run}/rerun", session_keepers(403), csrf="missing", note="(no CSRF)"),
    # FastAPI's OAuth2 redirect page of the Swagger UI (left at its default address, outside /api/)
    # the file browser
    PageRow("GET", "/browse", "/browse", everyone(307), goes_to="/browse/"),
    PageRow("GET", BROWSE, "/browse/", everyone(200)),
    PageRow("GET", BROWSE, "/browse/", signed_in(200), anonymous_browse=False, note=OFF),
    PageRow("GET", BROWSE, "/browse/my_workspace", signed_in(200)),
    PageRow("GET", BROWSE, "/browse/my_workspace/notes.txt", owner_only(200)),
    PageRow("GET", BROWSE, "/browse/team_workspaces", signed_in(200)),
    PageRow("GET", BROWSE, "/browse/team_workspaces/astro", team_members(200)),
    PageRow("GET", BROWSE, "/browse/team_workspaces/astro/plan.txt", team_members(200)),
    PageRow("GET", BROWSE, "/browse/team_workspaces/ghost", signed_in(404), note="(no such team)"),
    PageRow("GET", BROWSE, "/browse/data", everyone(200)),
    PageRow("GET", BROWSE, "/browse/data", signed_in(200), anonymous_browse=False, note=OFF),
    PageRow("GET", BROWSE, "/browse/data/pubvol", everyone(200)),
    PageRow("GET", BROWSE, "/browse/data/pubvol/README.txt", everyone(200)),
    PageRow("GET", BROWSE, "/browse/data/pubvol/README.txt", signed_in(200), anonymous_browse=False, note=OFF),
    PageRow("GET", BROWSE, "/browse/data/embvol", embargo_readers(200)),
    PageRow("GET", BROWSE, "/browse/data/embvol/secret.txt", embargo_readers(200)),
    PageRow("GET", BROWSE, "/browse/users/alice/notes.txt", everyone(404), note="(another user's place)"),
    PageRow("GET", BROWSE, "/browse/my_workspace/%2E%2E/alice/notes.txt", everyone(422), note="(dot-segments)"),
    # API tokens
    PageRow("POST", TOKENS, TOKENS, signed_in(201), form=NEW_TOKEN),
    PageRow("POST", TOKENS, TOKENS, signed_in(403), form=NEW_TOKEN, csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", TOKENS, TOKENS, signed_in(403), form=NEW_TOKEN, csrf="missing", note="(no CSRF)"),
    PageRow("POST", TOKENS, TOKENS, signed_in(422, admin=201), form={"name": "ops", "scopes": ["read", "admin"]},
            note="(admin scope)"),
    PageRow("POST", REVOKE, "/account/tokens/{alice_token}/revoke", owner_only(303), goes_to="/account#tokens"),
    PageRow("POST", REVOKE, "/account/tokens/{alice_token}/revoke", signed_in(403), csrf="wrong",
            note="(wrong CSRF)"),
    PageRow("POST", REVOKE, "/account/tokens/999999/revoke", signed_in(404), note="(no such token)"),
    # teams
    PageRow("POST", "/teams", "/teams", signed_in(403, admin=303), form={"name": "newteam"}, goes_to="/teams/newteam"),
    PageRow("POST", "/teams", "/teams", signed_in(403), form={"name": "newteam"}, csrf="wrong", note="(wrong CSRF)"),
    PageRow("POST", MEMBERS, "/teams/astro/members", team_managers(303), form={"user": "oscar"},
            goes_to="/teams/astro#members"),
    PageRow("POST", MEMBERS, "/teams/astro/members", team_managers(303), form={"user": "oscar", "admin": "true"},
            goes_to="/teams/astro#members", note="(made team admin)"),
    PageRow("POST", MEMBERS, "/teams/astro/members", team_readers(403), form={"user": "oscar"}, csrf="wrong",
            note="(wrong CSRF)"),  # the refusal is shown on the team's page: 404 for who may not see it
    PageRow("POST", MEMBERS, "/teams/ghost/members", signed_in(404), form={"user": "oscar"}, note="(no such team)"),
    PageRow("POST", SET_ADMIN, "/teams/astro/members/mike/admin", team_managers(303), form={"admin": "true"},
            goes_to="/teams/astro#members"),
    PageRow("POST", SET_ADMIN, "/teams/astro/members/tara/admin", team_managers(409), form={"admin": "false"},
            note="(last admin steps down)"),
    # not a member: the form is refused as invalid before the permission is looked at
    PageRow("POST", SET_ADMIN, "/teams/astro/members/oscar/admin", team_managers(422, member=422),
            form={"admin": "true"}, note="(not a member)"),
    PageRow("POST", SET_ADMIN, "/teams/astro/members/mike/admin", team_readers(403), form={"admin": "true"},
            csrf="missing", note="(no CSRF)"),
    PageRow("POST", REMOVE, "/teams/astro/members/mike/remove", team_managers(303, member=303),
            goes_to={"member": "/teams", "team_admin": "/teams/astro#members", "admin": "/teams/astro#members"}),
    PageRow("POST", REMOVE, "/teams/astro/members/tara/remove", team_managers(409), note="(last admin)"),
    PageRow("POST", REMOVE, "/teams/astro/members/mike/remove", team_readers(403), csrf="wrong",
            note="(wrong CSRF)"),
]


# -- speed -------------------------------------------------------------------------------------

class SharedTemplateCode(jinja2.BytecodeCache):
    """Compiled templates kept across the apps of the cases (each case has a new app, and compiling
    the templates again for each would take most of the matrix's time). Keyed by the template's
    name and source, as any Jinja bytecode cache: the pages rendered are the same."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()


# -- logging in --------------------------------------------------------------------------------

@pytest.fixture
def page_world(world, monkeypatch):  # noqa: F811 - world is the imported fixture
    """The scenario, with a password for every persona (one hash, made once, cheap parameters)."""
    monkeypatch.setattr(secrets, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
    password_hash = secrets.hash_password(PASSWORD)
    with world.session_factory() as session:
        session.execute(update(User).where(User.name.in_(USERS.values())).values(password_hash=password_hash))
        session.commit()
    world.values["run"] = _seed_run(world)
    return world


def _seed_run(world) -> str:
    """alice's run of pubpipe, pending (no supervisor runs in the matrix)."""
    from datalabs.accounts.actor import Actor
    from datalabs.accounts.service import AccountService
    from datalabs.pipelines.runs import RunService
    from datalabs.pipelines.service import PipelineService

    with world.session_factory() as session:
        alice = Actor.of(AccountService(session).user("alice"))
        version = PipelineService(session, world.settings).runnable(alice, "pubpipe")
        return RunService(session, world.settings).launch(alice, version, {"message": "hello"}).id


def log_in(http, persona: str) -> str:
    """Log ``persona`` in through the login form; returns the login's CSRF token ('' for anonymous)."""
    if persona == "anonymous":
        return ""
    token = LOGIN_FORM_TOKEN.search(http.get("/login").text).group(1)
    done = http.post("/login", data={"username": USERS[persona], "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 303 and LOGIN_COOKIE in http.cookies, f"{persona} could not log in: {done.text[:300]}"
    return CSRF_META.search(http.get("/").text).group(1)


def form_of(row: PageRow, world, login_csrf: str, http) -> dict:
    data = {key: fill(value, world) if isinstance(value, str) else value for key, value in (row.form or {}).items()}
    if row.csrf == "login":
        data["csrf_token"] = login_csrf
    elif row.csrf == "login_form":  # the login page's own token: offered to visitors only
        match = LOGIN_FORM_TOKEN.search(http.get("/login").text)
        data["csrf_token"] = match.group(1) if match else ""
    elif row.csrf == "wrong":
        data["csrf_token"] = WRONG_TOKEN
    else:
        assert row.csrf == "missing", row.csrf
    return data


# -- the cases ---------------------------------------------------------------------------------

VIEWS = ("GET", "HEAD")


def must_change_nothing(row: PageRow, persona: str) -> bool:
    """A page view, a refused request, or anything an anonymous visitor does except logging in."""
    return row.method in VIEWS or row.expected[persona] >= 400 or (persona == "anonymous" and row.route != "/login")


SHARED = [pytest.param(row, [p for p in PERSONAS if must_change_nothing(row, p)], id=row.id)
          for row in PAGE_ROWS if any(must_change_nothing(row, p) for p in PERSONAS)]
ALONE = [pytest.param(row, persona, id=f"{row.id} as {persona}")
         for row in PAGE_ROWS for persona in PERSONAS if not must_change_nothing(row, persona)]


@pytest.mark.parametrize(("row", "personas"), SHARED)
def test_changes_nothing(page_world, settings, app, subtests, row, personas):
    """The cases of a row that must change nothing (checked) share one scenario, one subtest each."""
    app = app_for(row, settings, app)
    for persona in personas:
        with subtests.test(persona=persona):
            check(page_world, app, row, persona)


@pytest.mark.parametrize(("row", "persona"), ALONE)
def test_allowed_change(page_world, settings, app, row, persona):
    """A case that may change something gets a scenario of its own."""
    check(page_world, app_for(row, settings, app), row, persona)


def app_for(row: PageRow, settings, app):
    if not row.anonymous_browse:
        app = create_app(settings.model_copy(update={"anonymous_browse": False}))
    app.state.templates.env.bytecode_cache = TEMPLATE_CODE
    return app


def check(world, app, row: PageRow, persona: str) -> None:
    """One request of ``row`` by ``persona`` (logged in through the form), and the generic checks."""
    with in_process_client(app) as http:
        login_csrf = log_in(http, persona)
        url = fill(row.url, world)
        data = form_of(row, world, login_csrf, http) if row.method == "POST" else None
        disk_before, db_before = disk_snapshot(world), db_snapshot(world)

        response = http.request(row.method, url, data=data)

    expected = row.expected[persona]
    assert response.status_code == expected, f"{row.id} as {persona}: {response.status_code} {response.text[:300]}"
    location = response.headers.get("location", "")
    to_login = expected == 303 and location.startswith("/login?next=")
    assert not (to_login and persona != "anonymous"), f"{persona} was sent to log in: {location}"
    if persona == "anonymous" and expected == 303 and row.route not in ("/login", "/logout"):
        assert to_login, f"an anonymous visitor was sent to {location!r}, not to log in"
    if expected in (303, 307) and not to_login and row.target(persona) is not None:
        assert location == fill(row.target(persona), world)
    meta = CSRF_META.search(response.text)
    if meta:
        assert meta.group(1) == login_csrf, "the page was not rendered for the caller's login"

    assert disk_snapshot(world) == disk_before, "a web route changed files"
    db_after = db_snapshot(world)
    if expected >= 400 or to_login:
        assert db_after == db_before, "a refused request changed the database"
    if must_change_nothing(row, persona):
        assert db_after == db_before, "a page view, a refused request or an anonymous visitor changed the database"
    seen = leaked(world, persona, asked=url + repr(data), seen=response.text + repr(dict(response.headers)),
                  extra=PAGE_MARKERS, whole_words=frozenset({"astro"}))
    assert not seen, f"{persona} saw {seen}"


# -- coverage ----------------------------------------------------------------------------------

def web_endpoints(app) -> set[tuple[str, str]]:
    """(method, path) of every route of the app that is neither the API nor the static files."""
    return {(method, path) for method, path in app_endpoints(app, "/")
            if not path.startswith(("/api/", "/static", "/ga4gh/", "/tap/"))}  # WES and TAP are APIs (the API matrix)


def test_every_web_route_has_a_row(app):
    declared = web_endpoints(app)
    missing = sorted(declared - {(row.method, row.route) for row in PAGE_ROWS})
    assert not missing, f"web routes without a row in the page authorization matrix: {missing}"
    assert len(declared) > 15  # the enumeration itself works
    assert ("POST", "/teams/{name}/members/{user}/remove") in declared


def test_every_page_row_names_a_real_web_route(app):
    stale = sorted({(row.method, row.route) for row in PAGE_ROWS} - web_endpoints(app))
    assert not stale, f"page rows for routes the app does not have: {stale}"


def test_every_page_row_covers_every_persona_once():
    for row in PAGE_ROWS:
        assert set(row.expected) == set(PERSONAS), row.id
        assert row.method == "POST" or (row.form is None and row.csrf == "login"), row.id
    ids = [row.id for row in PAGE_ROWS]
    assert len(ids) == len(set(ids)), "two page rows have the same id"
    cases = sum(len(param.values[1]) for param in SHARED) + len(ALONE)
    assert cases == len(PAGE_ROWS) * len(PERSONAS)


def test_the_refused_csrf_rows_exist():
    """Some rows show that a form post with a wrong or missing CSRF token is refused (403)."""
    for mode in ("wrong", "missing"):
        routes = {row.route for row in PAGE_ROWS if row.csrf == mode}
        assert len(routes) >= 3, mode
