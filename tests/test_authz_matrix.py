"""The authorization matrix: every route x every persona, from one scenario.

Personas: ``anonymous``; ``other`` (oscar, a plain user in no team); ``member`` (mike, in team
astro); ``team_admin`` (tara, admin of astro); ``owner`` (alice, who owns the workspace file, the
extra API token and the user record the rows act on); ``moderator`` (mod); ``admin`` (root).
The scenario also holds a public volume ``pubvol`` and a volume ``embvol`` embargoed for astro.

Each row names one route (method + path as declared in the app), a concrete request, and the
status each persona must get. Besides the status, every case checks that

- a refused request (status >= 400) changed nothing: not the database, not a file on disk;
- whatever the status, nobody changed a workspace that is not theirs, nor a volume;
- nobody saw what is not theirs: the content of alice's file, of the team's file, of the embargoed
  volume, the embargoed volume's name, alice's token prefix, the volumes' host folders.

``test_every_api_route_has_a_row`` fails when a route is added without its row. Web pages will
get their rows in ``PAGE_ROWS`` (coverage is only enforced for ``/api/`` routes for now).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from datalabs.accounts.service import AccountService
from datalabs.db.models import Base
from datalabs.storage.datasets import DatasetService

PERSONAS = ("anonymous", "other", "member", "team_admin", "owner", "moderator", "admin")
USERS = {"other": "oscar", "member": "mike", "team_admin": "tara", "owner": "alice", "moderator": "mod",
         "admin": "root"}
ALICE_SECRET = "alice-private-notes-a8f1"
ASTRO_SECRET = "astro-team-plan-77c2"
EMBARGO_SECRET = "embargoed-measurements-e3d9"
FUTURE = date.today() + timedelta(days=400)


# -- expectations ------------------------------------------------------------------------------

def expect(default: int, **overrides: int) -> dict[str, int]:
    unknown = set(overrides) - set(PERSONAS)
    assert not unknown, unknown
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


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
    returns: str | None = None  # for a 200 download: the exact body
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}{' ' + self.note if self.note else ''}"


FILES = "/api/v1/files/{path:path}"
CONTENT = "/api/v1/content/{path:path}"

API_ROWS = [
    # documentation
    Row("GET", "/api/openapi.json", "/api/openapi.json", everyone(200)),
    Row("HEAD", "/api/openapi.json", "/api/openapi.json", everyone(200)),
    Row("GET", "/api/docs", "/api/docs", everyone(200)),
    Row("HEAD", "/api/docs", "/api/docs", everyone(200)),
    Row("GET", "/api/redoc", "/api/redoc", everyone(200)),
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

# Web pages get their rows here (same Row shape); coverage is enforced for /api/ routes only for now.
PAGE_ROWS: list[Row] = []

ROWS = API_ROWS + PAGE_ROWS


# -- the scenario ------------------------------------------------------------------------------

@dataclass
class World:
    settings: object
    session_factory: object
    tokens: dict[str, str]
    values: dict[str, str]
    volumes: dict[str, Path]
    markers: dict[str, set[str]] = field(default_factory=dict)  # text -> personas allowed to see it

    def headers(self, persona: str) -> dict[str, str]:
        if persona == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[persona]}"}

    def roots(self) -> dict[str, Path]:
        base = self.settings.workspaces_dir
        found = {f"users/{name}": base / "users" / name for name in USERS.values()}
        found["teams/astro"] = base / "teams" / "astro"
        found[".uploads"] = base / ".uploads"
        found.update({f"volume/{name}": path for name, path in self.volumes.items()})
        return found


def _tree(root: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            found[key] = "/" if path.is_dir() and not path.is_symlink() else path.read_bytes()
    return found


def disk_snapshot(world: World) -> dict[str, dict]:
    return {name: _tree(path) for name, path in world.roots().items()}


def db_snapshot(world: World) -> dict[str, list]:
    dump = {}
    with world.session_factory() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c.name for c in table.columns if c.name != "last_used_at"]
            rows = session.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}")).all()
            dump[table.name] = sorted(repr(tuple(row)) for row in rows)
    return dump


@pytest.fixture
def world(settings, session_factory, tmp_path) -> World:
    volumes = {"pubvol": tmp_path / "volumes" / "pubvol", "embvol": tmp_path / "volumes" / "embvol"}
    for path in volumes.values():
        path.mkdir(parents=True)
    (volumes["pubvol"] / "README.txt").write_text("public readme")
    (volumes["embvol"] / "secret.txt").write_text(EMBARGO_SECRET)
    with session_factory() as session:  # one session: this runs for each of the many cases
        accounts = AccountService(session)
        accounts.create_team("astro")
        tokens = {}
        for persona, name in USERS.items():
            accounts.create_user(name, role={"moderator": "moderator", "admin": "admin"}.get(persona, "user"))
            if persona in ("member", "team_admin"):
                accounts.add_member("astro", name, admin=persona == "team_admin")
            full = ["read", "write", "admin"] if persona == "admin" else ["read", "write"]
            tokens[persona] = accounts.create_token(name, scopes=full).secret
        extra = accounts.create_token("alice", name="alice-laptop", scopes=["read"])
        alice_token, alice_prefix = extra.token.id, extra.token.prefix
        datasets = DatasetService(session)
        datasets.register("pubvol", volumes["pubvol"])
        datasets.register("embvol", volumes["embvol"], private=True, teams=["astro"], release_date=FUTURE)
    base = settings.workspaces_dir
    for name in USERS.values():
        (base / "users" / name).mkdir(parents=True, exist_ok=True)
    (base / "teams" / "astro").mkdir(parents=True)
    (base / ".uploads").mkdir(parents=True)
    (base / "users" / "alice" / "notes.txt").write_text(ALICE_SECRET)
    (base / "teams" / "astro" / "plan.txt").write_text(ASTRO_SECRET)
    new_volume = tmp_path / "new-volume"
    new_volume.mkdir()
    readers = {"member", "team_admin", "admin"}
    world = World(settings, session_factory, tokens,
                  {"alice_token": str(alice_token), "new_volume_path": str(new_volume)}, volumes)
    world.markers = {
        ALICE_SECRET: {"owner"},
        ASTRO_SECRET: {"member", "team_admin"},
        EMBARGO_SECRET: readers,
        "embvol": readers,
        "astro": readers,
        alice_prefix: {"owner"},
        str(tmp_path / "volumes"): {"admin"},
    }
    return world


def fill(template: str, world: World) -> str:
    for key, value in world.values.items():
        template = template.replace("{" + key + "}", value)
    return template


def may_change(persona: str) -> set[str]:
    user = USERS.get(persona)
    allowed = {f"users/{user}"} if user else set()
    if persona in ("member", "team_admin"):
        allowed.add("teams/astro")
    return allowed


CASES = [pytest.param(row, persona, id=f"{row.id} as {persona}") for row in ROWS for persona in PERSONAS]


@pytest.mark.parametrize(("row", "persona"), CASES)
def test_matrix(client, world, row, persona):
    url = fill(row.url, world)
    body = None if row.json is None else _filled_json(row.json, world)
    disk_before, db_before = disk_snapshot(world), db_snapshot(world)

    response = client.request(row.method, url, headers=world.headers(persona), json=body, content=row.content)

    expected = row.expected[persona]
    assert response.status_code == expected, f"{row.id} as {persona}: {response.status_code} {response.text[:300]}"
    if row.returns is not None and expected == 200:
        assert response.text == row.returns
    disk_after = disk_snapshot(world)
    if expected >= 400:
        assert disk_after == disk_before, "a refused request changed files"
        assert db_snapshot(world) == db_before, "a refused request changed the database"
    for root, content in disk_before.items():
        if root not in may_change(persona) and root != ".uploads":
            assert disk_after[root] == content, f"{persona} changed {root}"
    assert disk_after[".uploads"] == {}, "an upload left something behind"
    asked = url + repr(body)
    seen = response.text + repr(dict(response.headers))
    for marker, readers in world.markers.items():
        if persona not in readers and marker not in asked:
            assert marker not in seen, f"{persona} saw {marker!r}"


def _filled_json(value, world):
    if isinstance(value, dict):
        return {k: _filled_json(v, world) for k, v in value.items()}
    if isinstance(value, str):
        return fill(value, world)
    return value


# -- coverage ----------------------------------------------------------------------------------

def app_endpoints(app, prefix: str) -> set[tuple[str, str]]:
    """(method, path) of every route of the app under ``prefix``, included routers too."""
    try:
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: included routes are flattened into app.routes
        routes = app.routes
    found = set()
    for route in routes:
        path = getattr(route, "path", None) or ""
        if path.startswith(prefix):
            found.update((method, path) for method in (getattr(route, "methods", None) or ()))
    return found


def test_every_api_route_has_a_row(app):
    declared = app_endpoints(app, "/api/")
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
