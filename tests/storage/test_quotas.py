"""Quotas: per user and per team, from settings or set per account; a refused upload leaves
nothing behind, whether its size was announced or not."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from datalabs.cli import main as cli
from datalabs.settings import Settings
from tests.storage.conftest import leftovers, tree

KB = 1024


def run_cli(settings, *args):
    env = {"DATALABS_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["DATALABS_DATABASE_URL"] = settings.database_url
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def alice(new_user, auth, settings):
    settings.user_quota = 10 * KB
    settings.team_quota = 20 * KB
    new_user("alice")
    return auth("alice")


def put(client, path, data, headers, **params):
    return client.put(f"/api/v1/content/{path}", content=data, headers=headers, params=params)


async def chunks(total: int, size: int = 1000):
    sent = 0
    while sent < total:
        step = min(size, total - sent)
        sent += step
        yield b"z" * step


def put_chunked(app, path, total, headers, **params):
    """An upload without Content-Length (chunked), through the ASGI app."""
    import anyio
    import httpx

    async def send():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            response = await http.put(f"/api/v1/content/{path}", content=chunks(total), headers=headers,
                                      params=params)
            await response.aread()
            return response

    return anyio.run(send)


def assert_refused(response, workspace_path: str):
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert "not enough room in " + workspace_path in error["message"] or "is full" in error["message"]
    assert "quota" in error["message"]


def test_upload_within_quota(client, alice, workspace):
    assert put(client, "my_workspace/a.bin", b"a" * (10 * KB), alice).status_code == 201  # exactly the quota
    assert client.get("/api/v1/workspaces", headers=alice).json()[0]["used_bytes"] == 10 * KB


def test_announced_upload_over_quota_is_refused_and_leaves_nothing(client, alice, workspace, uploads_dir):
    put(client, "my_workspace/a.bin", b"a" * (6 * KB), alice)
    response = put(client, "my_workspace/b.bin", b"b" * (5 * KB), alice)
    assert_refused(response, "my_workspace")
    message = response.json()["error"]["message"]
    assert "5.0 KiB needed" in message and "4.0 KiB free" in message and "10.0 KiB quota" in message
    assert tree(workspace("alice")) == {"a.bin": b"a" * (6 * KB)}
    assert leftovers(uploads_dir) == []


def test_chunked_upload_over_quota_is_refused_and_leaves_nothing(app, alice, workspace, uploads_dir):
    response = put_chunked(app, "my_workspace/big.bin", 50 * KB, alice)
    assert "content-length" not in response.request.headers
    assert_refused(response, "my_workspace")
    assert tree(workspace("alice")) == {}
    assert leftovers(uploads_dir) == []


def test_chunked_upload_within_quota(app, alice, workspace):
    response = put_chunked(app, "my_workspace/ok.bin", 9 * KB, alice)
    assert response.status_code == 201
    assert (workspace("alice") / "ok.bin").stat().st_size == 9 * KB


def test_overwrite_counts_the_replaced_file(client, alice, workspace):
    put(client, "my_workspace/a.bin", b"a" * (8 * KB), alice)
    assert put(client, "my_workspace/a.bin", b"b" * (9 * KB), alice, overwrite="true").status_code == 201
    response = put(client, "my_workspace/a.bin", b"c" * (11 * KB), alice, overwrite="true")
    assert_refused(response, "my_workspace")
    assert (workspace("alice") / "a.bin").read_bytes() == b"b" * (9 * KB)


def test_refused_overwrite_keeps_the_old_file(app, client, alice, workspace, uploads_dir):
    put(client, "my_workspace/a.bin", b"a" * (2 * KB), alice)
    response = put_chunked(app, "my_workspace/a.bin", 30 * KB, alice, overwrite="true")
    assert response.status_code == 413
    assert (workspace("alice") / "a.bin").read_bytes() == b"a" * (2 * KB)
    assert leftovers(uploads_dir) == []


def test_quota_is_per_user(client, alice, new_user, auth, workspace):
    new_user("bob")
    put(client, "my_workspace/a.bin", b"a" * (10 * KB), alice)
    assert put(client, "my_workspace/b.bin", b"b" * (10 * KB), auth("bob")).status_code == 201
    assert put(client, "my_workspace/c.bin", b"c", alice).status_code == 413


def test_team_quota_is_shared_by_members(client, alice, new_user, auth, team_workspace, uploads_dir):
    new_user("tara", teams={"astro": True})
    new_user("mike", teams={"astro": False})
    assert put(client, "team_workspaces/astro/a.bin", b"a" * (15 * KB), auth("tara")).status_code == 201
    response = put(client, "team_workspaces/astro/b.bin", b"b" * (6 * KB), auth("mike"))
    assert_refused(response, "team_workspaces/astro")
    assert put(client, "my_workspace/b.bin", b"b" * (6 * KB), auth("mike")).status_code == 201  # own quota
    assert tree(team_workspace("astro")) == {"a.bin": b"a" * (15 * KB)}
    assert leftovers(uploads_dir) == []


def test_move_into_a_full_workspace_is_refused(client, alice, new_user, auth, workspace, team_workspace):
    new_user("mike", teams={"astro": True})
    mike = auth("mike")
    put(client, "team_workspaces/astro/a.bin", b"a" * (15 * KB), mike)
    put(client, "my_workspace/dir/b.bin", b"b" * (6 * KB), mike, parents="true")
    for source in ("my_workspace/dir/b.bin", "my_workspace/dir"):
        response = client.patch(f"/api/v1/files/{source}", json={"path": "team_workspaces/astro/moved"}, headers=mike)
        assert_refused(response, "team_workspaces/astro")
    assert tree(workspace("mike")) == {"dir/": "/", "dir/b.bin": b"b" * (6 * KB)}
    # renaming inside the same workspace never needs room
    assert client.patch("/api/v1/files/my_workspace/dir", json={"path": "my_workspace/dir2"},
                        headers=mike).status_code == 200


def test_quota_of_one_user_set_with_the_cli(client, alice, settings, workspace):
    run_cli(settings, "user", "quota", "alice", "20K")
    assert put(client, "my_workspace/a.bin", b"a" * (15 * KB), alice).status_code == 201
    assert client.get("/api/v1/workspaces", headers=alice).json()[0]["quota_bytes"] == 20 * KB
    run_cli(settings, "user", "quota", "alice", "default")
    assert client.get("/api/v1/workspaces", headers=alice).json()[0]["quota_bytes"] == 10 * KB
    assert put(client, "my_workspace/b.bin", b"b", alice).status_code == 413  # 15K used of 10K


def test_quota_of_one_team_set_with_the_cli(client, alice, new_user, auth, settings):
    new_user("tara", teams={"astro": True})
    run_cli(settings, "team", "quota", "astro", "1K")
    response = put(client, "team_workspaces/astro/a.bin", b"a" * 1025, auth("tara"))
    assert_refused(response, "team_workspaces/astro")
    assert put(client, "team_workspaces/astro/a.bin", b"a" * 1024, auth("tara")).status_code == 201
    run_cli(settings, "team", "quota", "astro", "default")
    workspaces = client.get("/api/v1/workspaces", headers=auth("tara")).json()
    assert workspaces[1] == {"path": "team_workspaces/astro", "kind": "team", "used_bytes": 1024,
                             "quota_bytes": 20 * KB}


def test_quota_set_by_an_admin_over_the_api(client, alice, new_user, auth):
    new_user("root", role="admin")
    assert client.patch("/api/v1/users/alice", json={"quota": "1K"}, headers=auth("root")).status_code == 200
    assert put(client, "my_workspace/a.bin", b"a" * 2000, alice).status_code == 413


def test_quota_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATALABS_USER_QUOTA", "1M")
    monkeypatch.setenv("DATALABS_TEAM_QUOTA", "2.5G")
    settings = Settings(data_dir=tmp_path)
    assert settings.user_quota == 1024 * 1024
    assert settings.team_quota == int(2.5 * 1024**3)


def test_user_quota_from_the_environment_applies_to_uploads(settings, new_user, token_for, monkeypatch,
                                                           workspace, uploads_dir):
    import anyio
    import httpx

    from datalabs.app import create_app

    monkeypatch.setenv("DATALABS_USER_QUOTA", "1M")
    monkeypatch.setenv("DATALABS_TEAM_QUOTA", "2M")
    configured = Settings(data_dir=settings.data_dir, database_url=settings.database_url, secret_key="x")
    new_user("alice", teams={"astro": True})
    headers = {"Authorization": "Bearer " + token_for("alice")}

    async def scenario():
        transport = httpx.ASGITransport(app=create_app(configured))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            summary = (await http.get("/api/v1/workspaces", headers=headers)).json()
            statuses = [
                (await http.put("/api/v1/content/my_workspace/a.bin", content=os.urandom(1024 * 1024),
                                headers=headers)).status_code,
                (await http.put("/api/v1/content/my_workspace/b.bin", content=b"x", headers=headers)).status_code,
                (await http.put("/api/v1/content/team_workspaces/astro/c.bin", content=os.urandom(2 * 1024 * 1024),
                                headers=headers)).status_code,
                (await http.put("/api/v1/content/team_workspaces/astro/d.bin", content=b"x",
                                headers=headers)).status_code,
            ]
            return summary, statuses

    summary, statuses = anyio.run(scenario)
    assert [w["quota_bytes"] for w in summary] == [1024 * 1024, 2 * 1024 * 1024]
    assert statuses == [201, 413, 201, 413]
    assert sorted(tree(workspace("alice"))) == ["a.bin"]
    assert leftovers(uploads_dir) == []


def test_invalid_quota_in_the_cli_changes_nothing(alice, settings, db):
    from datalabs.accounts.service import AccountService

    for size in ("lots", "-5", "10Q"):
        env = {"DATALABS_DATABASE_URL": settings.database_url} if settings.database_url else {}
        result = CliRunner().invoke(cli, ["user", "quota", "--data-dir", str(settings.data_dir), "--", "alice", size],
                                    env=env)
        assert result.exit_code != 0
        assert "not a size" in result.output
    db.expire_all()
    assert AccountService(db).user("alice").quota_bytes is None
