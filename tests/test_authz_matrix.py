"""The authorization matrix of the API: every ``/api/`` route x every persona, from one scenario.

The scenario and its personas are in ``tests/authz_scenario.py``; the web pages have their matrix
in ``tests/test_authz_pages.py``.

Each row names one route (method + path as declared in the app), a concrete request, and the
status each persona must get (API tokens: ``Authorization: Bearer``). Besides the status, every
case checks that

- a refused request (status >= 400) changed nothing: not the database, not a file on disk;
- whatever the status, nobody changed a workspace that is not theirs, nor a volume;
- nobody saw what is not theirs: the content of alice's file, of the team's file, of the embargoed
  volume, the embargoed volume's name and title, alice's token prefix, the volumes' host folders.

``test_every_api_route_has_a_row`` fails when a route is added without its row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.authz_scenario import (
    ALICE_SECRET,
    ASTRO_SECRET,
    EMBARGO_PRODUCT,
    EMBARGO_SECRET,
    PERSONAS,
    app_endpoints,
    lab_zip,
    db_snapshot,
    pipeline_cwl,
    disk_snapshot,
    expect,
    fill,
    leaked,
    may_change,
    world,  # noqa: F401 - the scenario fixture
)


# -- expectations ------------------------------------------------------------------------------

def everyone(status):
    return expect(status)


def logged_in(status):
    return expect(status, anonymous=401)


def admins_only(status):
    return expect(403, anonymous=401, admin=status)


def owner_only(status, others=404):
    return expect(others, anonymous=401, owner=status)


def team_members(status):
    return expect(404, anonymous=401, member=status, team_admin=status)


def catalogue_reviewers(status):
    """Who sees alice's unpublished datalab: alice, moderators and admins."""
    return expect(404, owner=status, moderator=status, admin=status)


def moderators_only(status):
    return expect(403, anonymous=401, moderator=status, admin=status)


def lab_developers(status):
    """Who may change alice's draft: alice and admins; moderators see it but may not edit or submit it."""
    return expect(404, anonymous=401, owner=status, moderator=403, admin=status)


def session_keepers(status):
    """alice's session: alice, and admins (who run the platform); everyone else 404."""
    return expect(404, anonymous=401, owner=status, admin=status)


def tap_job_owner(status):
    """alice's TAP job: hers only (UWS jobs are private; admins get 404 too)."""
    return expect(404, owner=status)


def embargo_readers(status, others=404, anonymous=404):
    return expect(others, anonymous=anonymous, member=status, team_admin=status, admin=status)


@dataclass(frozen=True)
class Row:
    method: str
    route: str  # as declared in the app, e.g. /api/v1/files/{path:path}
    url: str  # the request, with {placeholders} filled from the scenario
    expected: dict[str, int]
    json: object = None
    content: bytes | None = None
    files: dict | None = None  # a multipart upload
    returns: str | None = None  # for a 200 download: the exact body
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}{' ' + self.note if self.note else ''}"


FILES = "/api/v1/files/{path:path}"
CONTENT = "/api/v1/content/{path:path}"
PIPES = "/api/v1/pipelines"
PIPE = PIPES + "/{name}"
PIPE_VERSION = PIPE + "/versions/{version}"
ARCHIVE = "/api/v1/archive"
TAP_JOB = "/tap/async/{job_id}"

API_ROWS = [
    # documentation
    Row("GET", "/api/openapi.json", "/api/openapi.json", everyone(200)),
    Row("HEAD", "/api/openapi.json", "/api/openapi.json", everyone(200)),
    Row("GET", "/api/docs", "/api/docs", everyone(200)),
    Row("HEAD", "/api/docs", "/api/docs", everyone(200)),
    Row("GET", "/api/redoc", "/api/redoc", everyone(200)),
    Row("GET", "/api/docs/oauth2-redirect", "/api/docs/oauth2-redirect", everyone(200)),
    Row("HEAD", "/api/docs/oauth2-redirect", "/api/docs/oauth2-redirect", everyone(200)),
    Row("HEAD", "/api/redoc", "/api/redoc", everyone(200)),
    Row("GET", "/api/v1/health", "/api/v1/health", everyone(200)),
    # me and my tokens
    Row("GET", "/api/v1/me", "/api/v1/me", logged_in(200)),
    Row("GET", "/api/v1/tokens", "/api/v1/tokens", logged_in(200)),
    Row("POST", "/api/v1/tokens", "/api/v1/tokens", logged_in(201), json={"name": "matrix", "scopes": ["read"]}),
    Row("DELETE", "/api/v1/tokens/{token_id}", "/api/v1/tokens/{alice_token}", owner_only(204)),
    Row("DELETE", "/api/v1/tokens/{token_id}", "/api/v1/tokens/999999", logged_in(404), note="(no such token)"),
    # users
    Row("GET", "/api/v1/users", "/api/v1/users", admins_only(200)),
    Row("POST", "/api/v1/users", "/api/v1/users", admins_only(201), json={"name": "newbie"}),
    Row("GET", "/api/v1/users/{name}", "/api/v1/users/alice", expect(404, anonymous=401, owner=200, admin=200)),
    Row("GET", "/api/v1/users/{name}", "/api/v1/users/ghost", expect(404, anonymous=401)),
    Row("PATCH", "/api/v1/users/{name}", "/api/v1/users/alice", admins_only(200), json={"quota": "1G"}),
    Row("PATCH", "/api/v1/users/{name}", "/api/v1/users/alice", admins_only(200), json={"role": "admin"},
        note="(promote)"),
    # teams
    Row("GET", "/api/v1/teams", "/api/v1/teams", logged_in(200)),
    Row("POST", "/api/v1/teams", "/api/v1/teams", admins_only(201), json={"name": "newteam"}),
    Row("GET", "/api/v1/teams/{name}", "/api/v1/teams/astro",
        expect(404, anonymous=401, member=200, team_admin=200, admin=200)),
    Row("PUT", "/api/v1/teams/{name}/members/{user}", "/api/v1/teams/astro/members/oscar",
        expect(404, anonymous=401, member=403, team_admin=200, admin=200), json={}),
    Row("PUT", "/api/v1/teams/{name}/members/{user}", "/api/v1/teams/astro/members/mike",
        expect(404, anonymous=401, member=403, team_admin=200, admin=200), json={"admin": True}, note="(promote)"),
    Row("DELETE", "/api/v1/teams/{name}/members/{user}", "/api/v1/teams/astro/members/mike",
        expect(404, anonymous=401, member=204, team_admin=204, admin=204)),  # a member may leave
    Row("DELETE", "/api/v1/teams/{name}/members/{user}", "/api/v1/teams/astro/members/tara",
        expect(404, anonymous=401, member=403, team_admin=409, admin=409), note="(last admin)"),
    # archive volumes
    Row("GET", "/api/v1/datasets", "/api/v1/datasets", everyone(200)),
    Row("GET", "/api/v1/datasets/{name}", "/api/v1/datasets/pubvol", everyone(200)),
    Row("GET", "/api/v1/datasets/{name}", "/api/v1/datasets/embvol", embargo_readers(200)),
    Row("POST", "/api/v1/datasets", "/api/v1/datasets", admins_only(201),
        json={"name": "newvol", "path": "{new_volume_path}"}),
    Row("PATCH", "/api/v1/datasets/{name}", "/api/v1/datasets/pubvol", admins_only(200), json={"title": "x"}),
    Row("PATCH", "/api/v1/datasets/{name}", "/api/v1/datasets/embvol", admins_only(200),
        json={"release_date": "2000-01-01"}),
    Row("DELETE", "/api/v1/datasets/{name}", "/api/v1/datasets/pubvol", admins_only(204)),
    Row("DELETE", "/api/v1/datasets/{name}", "/api/v1/datasets/embvol", admins_only(204)),
    # workspaces and files
    # datalab catalogue: alice (developer) owns draftlab (private), sublab (submitted), publab (published)
    Row("GET", "/api/v1/datalabs", "/api/v1/datalabs", everyone(200)),
    Row("GET", "/api/v1/datalabs/{name}", "/api/v1/datalabs/publab", everyone(200)),
    Row("GET", "/api/v1/datalabs/{name}", "/api/v1/datalabs/draftlab", catalogue_reviewers(200)),
    Row("GET", "/api/v1/datalabs/{name}/jsonld", "/api/v1/datalabs/publab/jsonld", everyone(200)),
    Row("GET", "/api/v1/datalabs/{name}/jsonld", "/api/v1/datalabs/draftlab/jsonld", catalogue_reviewers(200)),
    Row("PATCH", "/api/v1/datalabs/{name}", "/api/v1/datalabs/publab", moderators_only(200),
        json={"official": True}),
    Row("PATCH", "/api/v1/datalabs/{name}", "/api/v1/datalabs/publab",
        expect(403, anonymous=401, owner=200, moderator=200, admin=200), json={"withdrawn": True}, note="withdraw"),
    Row("POST", "/api/v1/datalabs/import/zip", "/api/v1/datalabs/import/zip",
        expect(403, anonymous=401, owner=201, moderator=201, admin=201), content=lab_zip("newlab")),
    Row("POST", "/api/v1/datalabs/import/git", "/api/v1/datalabs/import/git",
        expect(403, anonymous=401, owner=422, moderator=422, admin=422), json={"url": "https://127.0.0.1:9/x.git"}),
    Row("GET", "/api/v1/datalabs/{name}/versions/{version}", "/api/v1/datalabs/publab/versions/1.0", everyone(200)),
    Row("GET", "/api/v1/datalabs/{name}/versions/{version}", "/api/v1/datalabs/draftlab/versions/1.0",
        catalogue_reviewers(200)),
    Row("PATCH", "/api/v1/datalabs/{name}/versions/{version}", "/api/v1/datalabs/draftlab/versions/1.0",
        lab_developers(200), json={"title": "Renamed"}),
    Row("POST", "/api/v1/datalabs/{name}/versions/{version}/submit", "/api/v1/datalabs/draftlab/versions/1.0/submit",
        lab_developers(200)),
    Row("POST", "/api/v1/datalabs/{name}/versions/{version}/publish", "/api/v1/datalabs/sublab/versions/1.0/publish",
        expect(404, anonymous=401, owner=403, moderator=200, admin=200)),
    Row("POST", "/api/v1/datalabs/{name}/versions/{version}/reject", "/api/v1/datalabs/sublab/versions/1.0/reject",
        expect(404, anonymous=401, owner=403, moderator=200, admin=200), json={"reason": "incomplete"}),
    Row("GET", "/api/v1/environments/{env_id}", f"/api/v1/environments/{'a' * 64}", everyone(200)),
    Row("GET", "/api/v1/environments/{env_id}", f"/api/v1/environments/{'b' * 64}", catalogue_reviewers(200)),
    Row("GET", "/api/v1/environments/{env_id}/log", f"/api/v1/environments/{'a' * 64}/log", everyone(200)),
    Row("GET", "/api/v1/environments/{env_id}/log", f"/api/v1/environments/{'b' * 64}/log",
        catalogue_reviewers(200)),
    Row("POST", "/api/v1/datalabs/{name}/versions/{version}/build", "/api/v1/datalabs/draftlab/versions/1.0/build",
        lab_developers(200)),
    # pipelines: alice owns draftpipe (private), subpipe (submitted) and pubpipe (published)
    Row("GET", PIPES, PIPES, everyone(200)),
    Row("GET", PIPES, PIPES + "?sort=name&kind=step", everyone(200), note="(filtered)"),
    Row("POST", PIPES, PIPES, expect(403, anonymous=401, owner=201, moderator=201, admin=201),
        files={"file": ("newpipe.cwl", pipeline_cwl("newpipe").encode())}),
    Row("POST", PIPES + "/git", PIPES + "/git", expect(403, anonymous=401, owner=422, moderator=422, admin=422),
        json={"git": "https://127.0.0.1:9/x.git"}),
    Row("POST", PIPES + "/text", PIPES + "/text", expect(403, anonymous=401, owner=201, moderator=201, admin=201),
        json={"text": pipeline_cwl("typedpipe")}),
    Row("POST", PIPES + "/text", PIPES + "/text", expect(403, anonymous=401, owner=201, moderator=409, admin=201),
        json={"text": pipeline_cwl("draftpipe"), "version": "2.0"}, note="(a new version of alice's)"),
    Row("GET", PIPE, PIPES + "/pubpipe", everyone(200)),
    Row("GET", PIPE, PIPES + "/draftpipe", catalogue_reviewers(200)),
    Row("PATCH", PIPE, PIPES + "/pubpipe", admins_only(200), json={"official": True}),
    Row("PATCH", PIPE, PIPES + "/pubpipe", expect(403, anonymous=401, owner=200, moderator=200, admin=200),
        json={"withdrawn": True}, note="withdraw"),
    Row("GET", PIPE_VERSION, PIPES + "/pubpipe/versions/1.0", everyone(200)),
    Row("GET", PIPE_VERSION, PIPES + "/draftpipe/versions/1.0", catalogue_reviewers(200)),
    Row("GET", PIPE_VERSION + "/graph.svg", PIPES + "/pubpipe/versions/1.0/graph.svg", everyone(200)),
    Row("GET", PIPE_VERSION + "/graph.svg", PIPES + "/draftpipe/versions/1.0/graph.svg", catalogue_reviewers(200)),
    Row("GET", PIPE_VERSION + "/source", PIPES + "/pubpipe/versions/1.0/source", everyone(200)),
    Row("GET", PIPE_VERSION + "/source", PIPES + "/draftpipe/versions/1.0/source", catalogue_reviewers(200)),
    Row("POST", PIPE_VERSION + "/submit", PIPES + "/draftpipe/versions/1.0/submit", lab_developers(200)),
    Row("POST", PIPE_VERSION + "/publish", PIPES + "/subpipe/versions/1.0/publish",
        expect(404, anonymous=401, owner=403, moderator=200, admin=200)),
    Row("POST", PIPE_VERSION + "/reject", PIPES + "/subpipe/versions/1.0/reject",
        expect(404, anonymous=401, owner=403, moderator=200, admin=200), json={"reason": "incomplete"}),
    # pipeline runs: alice's completed run {run} of pubpipe; admins may see and cancel it, nobody else
    Row("POST", PIPE + "/runs", PIPES + "/pubpipe/runs", logged_in(201), json={"inputs": {"message": "hi"}}),
    Row("POST", PIPE + "/runs", PIPES + "/draftpipe/runs", lab_developers(201) | {"moderator": 404},
        json={"version": "1.0", "inputs": {"message": "hi"}}, note="(alice's draft)"),
    Row("GET", "/api/v1/runs", "/api/v1/runs", logged_in(200)),
    Row("GET", "/api/v1/runs", "/api/v1/runs?everyone=true&state=completed", logged_in(200), note="(everyone)"),
    Row("GET", "/api/v1/runs/{run_id}", "/api/v1/runs/{run}", session_keepers(200)),
    Row("GET", "/api/v1/runs/{run_id}/jobs", "/api/v1/runs/{run}/jobs", session_keepers(200)),
    Row("GET", "/api/v1/runs/{run_id}/events", "/api/v1/runs/{run}/events", session_keepers(200)),
    Row("GET", "/api/v1/runs/{run_id}/logs", "/api/v1/runs/{run}/logs", session_keepers(200)),
    Row("GET", "/api/v1/runs/{run_id}/logs", "/api/v1/runs/{run}/logs?job=pubpipe", session_keepers(200),
        note="(a job)"),
    Row("GET", "/api/v1/runs/{run_id}/provenance", "/api/v1/runs/{run}/provenance", session_keepers(200)),
    Row("GET", "/api/v1/runs/{run_id}/files/{path:path}", "/api/v1/runs/{run}/files/cache/jobs/abc/out.txt",
        session_keepers(200)),
    Row("GET", "/api/v1/runs/{run_id}/files/{path:path}", "/api/v1/runs/{run}/files/run.json",
        expect(404, anonymous=401), note="(not an output)"),
    Row("POST", "/api/v1/runs/{run_id}/cancel", "/api/v1/runs/{run}/cancel", session_keepers(200)),
    Row("POST", "/api/v1/runs/{run_id}/rerun", "/api/v1/runs/{run}/rerun", expect(404, anonymous=401, owner=201)),
    # archive metadata: one product on each volume (the embargoed one only for its readers); admins scan,
    # define mapped tables and make indexes
    Row("GET", "/api/v1/archive/volumes", "/api/v1/archive/volumes", everyone(200)),
    Row("POST", ARCHIVE + "/volumes/{volume}/scans", ARCHIVE + "/volumes/pubvol/scans", admins_only(202)),
    Row("POST", ARCHIVE + "/volumes/{volume}/scans", ARCHIVE + "/volumes/embvol/scans", admins_only(202)),
    Row("GET", ARCHIVE + "/volumes/{volume}/scans/{scan_id}", ARCHIVE + "/volumes/pubvol/scans/{pubvol_scan}",
        everyone(200)),
    Row("GET", ARCHIVE + "/volumes/{volume}/scans/{scan_id}", ARCHIVE + "/volumes/embvol/scans/{embvol_scan}",
        embargo_readers(200)),
    Row("GET", ARCHIVE + "/volumes/{volume}/attributes", ARCHIVE + "/volumes/pubvol/attributes", everyone(200)),
    Row("GET", ARCHIVE + "/volumes/{volume}/attributes", ARCHIVE + "/volumes/embvol/attributes",
        embargo_readers(200)),
    Row("GET", ARCHIVE + "/volumes/{volume}/problems", ARCHIVE + "/volumes/pubvol/problems", everyone(200)),
    Row("GET", ARCHIVE + "/volumes/{volume}/problems", ARCHIVE + "/volumes/embvol/problems", embargo_readers(200)),
    Row("GET", ARCHIVE + "/products", ARCHIVE + "/products?facet-fields=volume,TARGET_NAME", everyone(200)),
    Row("GET", ARCHIVE + "/products", ARCHIVE + "/products?volume=embvol", embargo_readers(200),
        note="(embargoed volume)"),
    Row("GET", ARCHIVE + "/products/{key:path}", ARCHIVE + "/products/PUBLIC_PRODUCT_0001", everyone(200)),
    Row("GET", ARCHIVE + "/products/{key:path}", ARCHIVE + "/products/EMBARGOED_PRODUCT_6d0b", embargo_readers(200)),
    Row("GET", ARCHIVE + "/products/{key:path}/quicklook.png", ARCHIVE + "/products/PUBLIC_PRODUCT_0001/quicklook.png",
        everyone(404), note="(its label is not on disk)"),
    Row("GET", ARCHIVE + "/products/{key:path}/quicklook.png",
        ARCHIVE + "/products/EMBARGOED_PRODUCT_6d0b/quicklook.png", everyone(404)),
    Row("GET", ARCHIVE + "/tables", ARCHIVE + "/tables", everyone(200)),
    Row("PUT", ARCHIVE + "/tables", ARCHIVE + "/tables", admins_only(200),
        content=b"tables:\n  - name: targets\n    columns: {target: TARGET_NAME}\n"),
    Row("DELETE", ARCHIVE + "/tables/{name}", ARCHIVE + "/tables/seeded", admins_only(204)),
    Row("GET", ARCHIVE + "/indexes", ARCHIVE + "/indexes", everyone(200)),
    Row("POST", ARCHIVE + "/indexes", ARCHIVE + "/indexes", admins_only(201), json={"attribute": "TARGET_NAME"}),
    Row("DELETE", ARCHIVE + "/indexes/{attribute:path}", ARCHIVE + "/indexes/PRODUCT_ID", admins_only(204)),
    # discovery: searches, counts, suggestions and linked data hold only what the caller may see (the
    # embargoed volume and its data set, alice's drafts); the DCAT feed is the public assets, whoever asks
    Row("GET", "/api/v1/discover", "/api/v1/discover?per_page=100&facet_limit=200", everyone(200)),
    Row("GET", "/api/v1/discover", "/api/v1/discover?q=data%20OR%20set%20OR%20draftlab&facet=asset_type:dataset"
        "&facet=asset_type:datalab&facet=target:MARS", everyone(200), note="(text and facets)"),
    Row("GET", "/api/v1/discover", '/api/v1/discover?q="unclosed', everyone(422), note="(bad query)"),
    Row("GET", "/api/v1/discover/suggest", "/api/v1/discover/suggest?q=em", everyone(200)),
    Row("GET", "/api/v1/discover/sorts", "/api/v1/discover/sorts", everyone(200)),
    Row("GET", "/api/v1/discover/catalog", "/api/v1/discover/catalog?per_page=500", everyone(200)),
    Row("GET", "/api/v1/discover/assets/{key:path}", "/api/v1/discover/assets/volume:pubvol", everyone(200)),
    Row("GET", "/api/v1/discover/assets/{key:path}", "/api/v1/discover/assets/volume:embvol?format=jsonld",
        embargo_readers(200)),
    Row("GET", "/api/v1/discover/assets/{key:path}",
        f"/api/v1/discover/assets/dataset:embvol:{EMBARGO_PRODUCT}-DATA-SET", embargo_readers(200)),
    Row("GET", "/api/v1/discover/assets/{key:path}", "/api/v1/discover/assets/datalab:draftlab",
        catalogue_reviewers(200)),
    Row("GET", "/api/v1/discover/assets/{key:path}", "/api/v1/discover/assets/pipeline:draftpipe",
        catalogue_reviewers(200)),
    # IVOA TAP: queries see what the caller may read (the embargoed product, table and volume name only for
    # its readers); alice's jobs {tapjob} (completed) and {tappending} are hers alone, admins included
    Row("GET", "/tap/sync", "/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY=SELECT%20identifier%20FROM%20archive.products",
        everyone(200)),
    Row("POST", "/tap/sync", "/tap/sync", everyone(200),
        files={"LANG": (None, "ADQL"), "QUERY": (None, "SELECT * FROM TAP_SCHEMA.tables")}),
    Row("GET", "/tap/capabilities", "/tap/capabilities", everyone(200)),
    Row("GET", "/tap/availability", "/tap/availability", everyone(200)),
    Row("GET", "/tap/tables", "/tap/tables", everyone(200)),
    Row("GET", "/tap/tables/{name}", "/tap/tables/archive.products", everyone(200)),
    Row("GET", "/tap/tables/{name}", "/tap/tables/volume.embvol", embargo_readers(200)),
    Row("GET", "/tap/async", "/tap/async", everyone(200)),
    Row("POST", "/tap/async", "/tap/async", everyone(303),
        files={"LANG": (None, "ADQL"), "QUERY": (None, "SELECT TOP 1 identifier FROM archive.products")}),
    Row("GET", TAP_JOB, "/tap/async/{tapjob}", tap_job_owner(200)),
    Row("POST", TAP_JOB, "/tap/async/{tapjob}", tap_job_owner(303), files={"ACTION": (None, "DELETE")}),
    Row("DELETE", TAP_JOB, "/tap/async/{tapjob}", tap_job_owner(303)),
    Row("GET", TAP_JOB + "/phase", "/tap/async/{tapjob}/phase", tap_job_owner(200)),
    Row("POST", TAP_JOB + "/phase", "/tap/async/{tappending}/phase", tap_job_owner(303),
        files={"PHASE": (None, "RUN")}),
    Row("GET", TAP_JOB + "/quote", "/tap/async/{tapjob}/quote", tap_job_owner(200)),
    Row("GET", TAP_JOB + "/executionduration", "/tap/async/{tapjob}/executionduration", tap_job_owner(200)),
    Row("POST", TAP_JOB + "/executionduration", "/tap/async/{tappending}/executionduration", tap_job_owner(303),
        files={"EXECUTIONDURATION": (None, "60")}),
    Row("GET", TAP_JOB + "/destruction", "/tap/async/{tapjob}/destruction", tap_job_owner(200)),
    Row("POST", TAP_JOB + "/destruction", "/tap/async/{tappending}/destruction", tap_job_owner(303),
        files={"DESTRUCTION": (None, "2099-01-01T00:00:00Z")}),
    Row("GET", TAP_JOB + "/error", "/tap/async/{tapjob}/error", everyone(404), note="(a completed job has none)"),
    Row("GET", TAP_JOB + "/parameters", "/tap/async/{tapjob}/parameters", tap_job_owner(200)),
    Row("POST", TAP_JOB + "/parameters", "/tap/async/{tappending}/parameters", tap_job_owner(303),
        files={"MAXREC": (None, "10")}),
    Row("GET", TAP_JOB + "/results", "/tap/async/{tapjob}/results", tap_job_owner(200)),
    Row("GET", TAP_JOB + "/results/result", "/tap/async/{tapjob}/results/result", tap_job_owner(200)),
    Row("GET", TAP_JOB + "/owner", "/tap/async/{tapjob}/owner", tap_job_owner(200)),
    # GA4GH WES over the same runs: alice's {run}; errors in WES's own shape
    Row("GET", "/ga4gh/wes/v1/service-info", "/ga4gh/wes/v1/service-info", everyone(200)),
    Row("POST", "/ga4gh/wes/v1/runs", "/ga4gh/wes/v1/runs", logged_in(200),
        files={"workflow_url": (None, "catalogue:pubpipe"), "workflow_type": (None, "CWL"),
               "workflow_type_version": (None, "v1.2"), "workflow_params": (None, '{"message": "hi"}')}),
    Row("GET", "/ga4gh/wes/v1/runs", "/ga4gh/wes/v1/runs", logged_in(200)),
    Row("GET", "/ga4gh/wes/v1/runs/{run_id}", "/ga4gh/wes/v1/runs/{run}", session_keepers(200)),
    Row("GET", "/ga4gh/wes/v1/runs/{run_id}/status", "/ga4gh/wes/v1/runs/{run}/status", session_keepers(200)),
    Row("GET", "/ga4gh/wes/v1/runs/{run_id}/tasks", "/ga4gh/wes/v1/runs/{run}/tasks", session_keepers(200)),
    Row("POST", "/ga4gh/wes/v1/runs/{run_id}/cancel", "/ga4gh/wes/v1/runs/{run}/cancel", session_keepers(200)),
    # sessions: alice runs {session} (publab); admins may see and stop it, nobody else
    Row("POST", "/api/v1/sessions", "/api/v1/sessions", logged_in(201), json={"datalab": "publab"}),
    Row("POST", "/api/v1/sessions", "/api/v1/sessions", logged_in(404), json={"datalab": "draftlab"},
        note="(unpublished)"),
    Row("POST", "/api/v1/sessions", "/api/v1/sessions", embargo_readers(201, others=404, anonymous=401),
        json={"datalab": "publab", "volumes": ["embvol"]}, note="(embargoed volume)"),
    Row("GET", "/api/v1/sessions", "/api/v1/sessions", logged_in(200)),
    Row("GET", "/api/v1/backend", "/api/v1/backend", admins_only(200)),
    Row("GET", "/api/v1/sessions", "/api/v1/sessions?everyone=true", logged_in(200), note="(everyone)"),
    Row("GET", "/api/v1/sessions/{session_id}", "/api/v1/sessions/{session}", session_keepers(200)),
    Row("DELETE", "/api/v1/sessions/{session_id}", "/api/v1/sessions/{session}", session_keepers(200)),
    Row("POST", "/api/v1/sessions/{session_id}/renew", "/api/v1/sessions/{session}/renew", session_keepers(200)),
    Row("GET", "/api/v1/sessions/{session_id}/events", "/api/v1/sessions/{session}/events", session_keepers(200)),
    Row("GET", "/api/v1/sessions/{session_id}/logs", "/api/v1/sessions/{session}/logs", session_keepers(200)),
    Row("GET", "/api/v1/datalabs/{name}/launch-options", "/api/v1/datalabs/publab/launch-options", logged_in(200)),
    Row("GET", "/api/v1/datalabs/{name}/launch-options", "/api/v1/datalabs/draftlab/launch-options?version=1.0",
        expect(404, anonymous=401, owner=200, moderator=200, admin=200), note="(a draft: those who see it)"),
    Row("GET", "/api/v1/workspaces", "/api/v1/workspaces", logged_in(200)),
    Row("GET", "/api/v1/files", "/api/v1/files", everyone(200)),
    Row("GET", FILES, "/api/v1/files/my_workspace", logged_in(200)),
    Row("GET", FILES, "/api/v1/files/my_workspace/notes.txt", owner_only(200)),
    Row("GET", FILES, "/api/v1/files/team_workspaces", logged_in(200)),
    Row("GET", FILES, "/api/v1/files/team_workspaces/astro", team_members(200)),
    Row("GET", FILES, "/api/v1/files/team_workspaces/astro/plan.txt", team_members(200)),
    Row("GET", FILES, "/api/v1/files/data", everyone(200)),
    Row("GET", FILES, "/api/v1/files/data/pubvol/README.txt", everyone(200)),
    Row("GET", FILES, "/api/v1/files/data/embvol", embargo_readers(200)),
    Row("GET", FILES, "/api/v1/files/data/embvol/secret.txt", embargo_readers(200)),
    Row("POST", FILES, "/api/v1/files/my_workspace/newdir", logged_in(201), json={}),
    Row("POST", FILES, "/api/v1/files/team_workspaces/astro/newdir", team_members(201), json={}),
    Row("POST", FILES, "/api/v1/files/data/pubvol/newdir", logged_in(403), json={}),
    Row("POST", FILES, "/api/v1/files/data/embvol/newdir", embargo_readers(403, anonymous=401), json={}),
    Row("PATCH", FILES, "/api/v1/files/my_workspace/notes.txt", owner_only(200),
        json={"path": "my_workspace/renamed.txt"}),
    Row("PATCH", FILES, "/api/v1/files/team_workspaces/astro/plan.txt", team_members(200),
        json={"path": "team_workspaces/astro/plan2.txt"}),
    Row("PATCH", FILES, "/api/v1/files/team_workspaces/astro/plan.txt", team_members(200),
        json={"path": "my_workspace/plan.txt"}, note="(out of the team)"),
    Row("PATCH", FILES, "/api/v1/files/my_workspace/notes.txt", logged_in(404),
        json={"path": "team_workspaces/astro/notes.txt"}, note="(into the team)"),
    Row("PATCH", FILES, "/api/v1/files/data/pubvol/README.txt", logged_in(403),
        json={"path": "my_workspace/README.txt"}),
    Row("PATCH", FILES, "/api/v1/files/data/embvol/secret.txt", embargo_readers(403, anonymous=401),
        json={"path": "my_workspace/secret.txt"}),
    Row("DELETE", FILES, "/api/v1/files/my_workspace/notes.txt", owner_only(204)),
    Row("DELETE", FILES, "/api/v1/files/team_workspaces/astro/plan.txt", team_members(204)),
    Row("DELETE", FILES, "/api/v1/files/team_workspaces/astro?recursive=true", expect(403, anonymous=401,
        other=404, owner=404, moderator=404, admin=404), note="(the workspace itself)"),
    Row("DELETE", FILES, "/api/v1/files/data/pubvol/README.txt", logged_in(403)),
    Row("DELETE", FILES, "/api/v1/files/data/embvol/secret.txt", embargo_readers(403, anonymous=401)),
    # downloads and uploads
    Row("GET", CONTENT, "/api/v1/content/my_workspace/notes.txt", owner_only(200), returns=ALICE_SECRET),
    Row("GET", CONTENT, "/api/v1/content/team_workspaces/astro/plan.txt", team_members(200), returns=ASTRO_SECRET),
    Row("GET", CONTENT, "/api/v1/content/data/pubvol/README.txt", everyone(200), returns="public readme"),
    Row("GET", CONTENT, "/api/v1/content/data/embvol/secret.txt", embargo_readers(200), returns=EMBARGO_SECRET),
    Row("HEAD", CONTENT, "/api/v1/content/my_workspace/notes.txt", owner_only(200)),
    Row("HEAD", CONTENT, "/api/v1/content/team_workspaces/astro/plan.txt", team_members(200)),
    Row("HEAD", CONTENT, "/api/v1/content/data/pubvol/README.txt", everyone(200)),
    Row("HEAD", CONTENT, "/api/v1/content/data/embvol/secret.txt", embargo_readers(200)),
    Row("PUT", CONTENT, "/api/v1/content/my_workspace/new.txt", logged_in(201), content=b"uploaded"),
    Row("PUT", CONTENT, "/api/v1/content/my_workspace/notes.txt", expect(201, anonymous=401, owner=409),
        content=b"uploaded", note="(others write their own)"),
    Row("PUT", CONTENT, "/api/v1/content/team_workspaces/astro/plan.txt?overwrite=true", team_members(201),
        content=b"uploaded"),
    Row("PUT", CONTENT, "/api/v1/content/data/pubvol/README.txt?overwrite=true", logged_in(403), content=b"uploaded"),
    Row("PUT", CONTENT, "/api/v1/content/data/embvol/new.txt", embargo_readers(403, anonymous=401),
        content=b"uploaded"),
]

ROWS = API_ROWS  # the web pages have theirs in test_authz_pages.py


# -- the cases ---------------------------------------------------------------------------------

def must_change_nothing(row: Row, persona: str) -> bool:
    """A read, or a refused request: checked to change nothing, so such cases may share a scenario."""
    return row.method in ("GET", "HEAD") or row.expected[persona] >= 400


SHARED = [pytest.param(row, [p for p in PERSONAS if must_change_nothing(row, p)], id=row.id)
          for row in ROWS if any(must_change_nothing(row, p) for p in PERSONAS)]
ALONE = [pytest.param(row, persona, id=f"{row.id} as {persona}")
         for row in ROWS for persona in PERSONAS if not must_change_nothing(row, persona)]


@pytest.mark.parametrize(("row", "personas"), SHARED)
def test_changes_nothing(client, world, subtests, row, personas):  # noqa: F811 - world is the imported fixture
    """The cases of a row that must change nothing share one scenario, one subtest each."""
    for persona in personas:
        with subtests.test(persona=persona):
            check(client, world, row, persona)


@pytest.mark.parametrize(("row", "persona"), ALONE)
def test_allowed_change(client, world, row, persona):  # noqa: F811 - world is the imported fixture
    """A case that may change something gets a scenario of its own."""
    check(client, world, row, persona)


def check(client, world, row: Row, persona: str) -> None:
    url = fill(row.url, world)
    body = None if row.json is None else _filled_json(row.json, world)
    disk_before, db_before = disk_snapshot(world), db_snapshot(world)

    response = client.request(row.method, url, headers=world.headers(persona), json=body, content=row.content,
                              files=row.files)

    expected = row.expected[persona]
    assert response.status_code == expected, f"{row.id} as {persona}: {response.status_code} {response.text[:300]}"
    if row.returns is not None and expected == 200:
        assert response.text == row.returns
    disk_after = disk_snapshot(world)
    if must_change_nothing(row, persona):
        assert disk_after == disk_before, "a refused request or a read changed files"
        assert db_snapshot(world) == db_before, "a refused request or a read changed the database"
    for root, content in disk_before.items():
        if root not in may_change(persona) and root != ".uploads":
            assert disk_after[root] == content, f"{persona} changed {root}"
    assert disk_after[".uploads"] == {}, "an upload left something behind"
    seen = leaked(world, persona, asked=url + repr(body), seen=response.text + repr(dict(response.headers)))
    assert not seen, f"{persona} saw {seen}"


def _filled_json(value, scene):
    if isinstance(value, dict):
        return {k: _filled_json(v, scene) for k, v in value.items()}
    if isinstance(value, str):
        return fill(value, scene)
    return value


# -- coverage ----------------------------------------------------------------------------------

def test_every_api_route_has_a_row(app):
    declared = app_endpoints(app, "/api/") | app_endpoints(app, "/ga4gh/") | app_endpoints(app, "/tap/")
    covered = {(row.method, row.route) for row in ROWS}
    missing = sorted(declared - covered)
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    assert len(declared) > 25  # the enumeration itself works


def test_every_row_names_a_real_route(app):
    declared = app_endpoints(app, "/")
    stale = sorted({(row.method, row.route) for row in ROWS} - declared)
    assert not stale, f"rows for routes the app does not have: {stale}"


def test_every_row_covers_every_persona():
    for row in ROWS:
        assert set(row.expected) == set(PERSONAS), row.id
