"""Environment builds with uv: ids, real (tiny) builds, failures, crash recovery. Needs PyPI."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from datalabs.catalogue import environments
from datalabs.catalogue.environments import (
    BASE_LAB_REQUIREMENTS,
    EnvironmentBuilder,
    environment_id,
    failure_reason,
)
from datalabs.catalogue.models import Environment, EnvironmentStatus
from datalabs.db.base import utcnow


@pytest.fixture
def builder(settings, session_factory):
    result = EnvironmentBuilder(settings, session_factory)
    yield result
    result.shutdown()


def test_ids_ignore_order_comments_and_blank_lines():
    one = environment_id("six==1.16.0\nattrs==23.1.0\n", "3.11", "web")
    two = environment_id("# tools\n\nattrs==23.1.0   # for classes\n  six==1.16.0\n", "3.11", "web")
    assert one == two and len(one) == 64
    assert environment_id("six==1.16.0\n", "3.11", "web") != one
    assert environment_id("six==1.16.0\nattrs==23.1.0\n", "3.12", "web") != one
    assert environment_id("six==1.16.0\nattrs==23.1.0\n", "3.11", "jupyterlab") != one
    # a web and a desktop datalab with the same requirements share one environment
    assert environment_id("six==1.16.0\nattrs==23.1.0\n", "3.11", "desktop") == one


def test_jupyterlab_environment_includes_the_base_set():
    lines = environments.effective_requirements("pandas\n", "jupyterlab")
    assert set(BASE_LAB_REQUIREMENTS) <= set(lines) and "pandas" in lines
    assert environments.effective_requirements("pandas\n", "web") == ["pandas"]
    assert all("==" in line for line in BASE_LAB_REQUIREMENTS)


def test_a_small_build_is_ready_read_only_and_logged_and_reused(builder, settings):
    row = builder.ensure("six==1.16.0\n", "web")
    assert row.status == EnvironmentStatus.PENDING
    done = builder.start(row.id).result(timeout=300)
    assert done.status == EnvironmentStatus.READY, done.reason
    assert done.started_at and done.finished_at
    path = Path(done.path)
    assert path == settings.environments_dir / row.id
    result = subprocess.run([str(path / "bin" / "python"), "-c", "import six; print(six.__version__)"],
                            capture_output=True, text=True)
    assert result.stdout.strip() == "1.16.0", result.stderr
    assert not os.access(path / "bin", os.W_OK) or os.geteuid() == 0
    assert all(not (p.stat().st_mode & 0o222) for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    text = Path(done.log_path).read_text()
    assert "uv pip install" in text and "six==1.16.0" in text
    assert not list(settings.environments_dir.glob(".tmp-*"))

    entries = sorted(settings.environments_dir.iterdir())
    started = time.monotonic()
    again = builder.ensure("# same\nsix==1.16.0\n", "web")
    assert again.id == row.id and again.status == EnvironmentStatus.READY
    assert builder.start(again.id).result(timeout=5).status == EnvironmentStatus.READY
    assert time.monotonic() - started < 1
    assert sorted(settings.environments_dir.iterdir()) == entries

    log_text, offset, finished = builder.follow_log(row.id, 0)
    assert finished and log_text == text and offset == len(text.encode())
    assert builder.follow_log(row.id, offset) == ("", offset, True)


def test_an_unknown_package_fails_with_a_one_line_reason(builder):
    row = builder.ensure("datalabs-no-such-package-xyz\n", "web")
    done = builder.build(row.id)
    assert done.status == EnvironmentStatus.FAILED
    assert "datalabs-no-such-package-xyz" in done.reason and "\n" not in done.reason
    assert "datalabs-no-such-package-xyz" in Path(done.log_path).read_text()
    assert not Path(done.path).exists()


def test_a_conflict_fails_with_a_reason(builder):
    done = builder.build(builder.ensure("six==1.16.0\nsix==1.15.0\n", "web").id)
    assert done.status == EnvironmentStatus.FAILED
    assert done.reason and "\n" not in done.reason
    assert done.reason.startswith("No solution found when resolving dependencies: Because you require six==")


def test_a_missing_host_package_fails_without_running_uv(builder, monkeypatch):
    def no_uv():
        raise AssertionError("uv must not run")

    monkeypatch.setattr(environments, "missing_host_packages", lambda names: list(names))
    row = builder.ensure("six==1.16.0\n", "web", host_packages=["topcat"])
    monkeypatch.setattr(environments, "uv_binary", no_uv)
    done = builder.build(row.id)
    assert done.status == EnvironmentStatus.FAILED
    assert done.reason == "missing host package: topcat (install the Debian package)"
    assert "missing host package" in Path(done.log_path).read_text()


def test_host_package_check_uses_dpkg():
    if not Path("/usr/bin/dpkg-query").exists():
        pytest.skip("not a Debian host")
    assert environments.missing_host_packages(["dpkg", "datalabs-no-such-deb"]) == ["datalabs-no-such-deb"]


def test_recover_unsticks_an_interrupted_build(builder, settings, session_factory):
    with session_factory() as session:
        session.add(Environment(id="a" * 64, status=EnvironmentStatus.BUILDING.value, started_at=utcnow()))
        session.add(Environment(id="b" * 64, status=EnvironmentStatus.READY.value))
        session.commit()
    leftover = settings.environments_dir / (".tmp-" + "a" * 64) / "bin"
    leftover.mkdir(parents=True)
    assert builder.recover() == ["a" * 64]
    row = builder.get("a" * 64)
    assert row.status == EnvironmentStatus.FAILED and row.reason == "interrupted by a server restart"
    assert builder.get("b" * 64).status == EnvironmentStatus.READY
    assert not leftover.parent.exists()


def test_failure_reason_lines():
    output = ("  × No solution found when resolving dependencies:\n"
              "  ╰─▶ Because you require six==1.16.0 and six==1.15.0, we can conclude that your\n"
              "      requirements are unsatisfiable.\n")
    assert failure_reason(output) == ("No solution found when resolving dependencies: Because you require "
                                      "six==1.16.0 and six==1.15.0, we can conclude that your requirements "
                                      "are unsatisfiable.")
    assert failure_reason("error: boom\n") == "boom"
    plain = ("error: No solution found when resolving dependencies\n"
             "  cause: Because you require six==1.15.0 and six==1.16.0, we can conclude that your "
             "requirements are unsatisfiable.\n")
    assert failure_reason(plain).startswith("No solution found when resolving dependencies: Because you require")


def test_start_shares_one_build_per_id_and_ensure_retries_failed_rows(builder, monkeypatch):
    row = builder.ensure("datalabs-no-such-package-xyz\n", "web")
    first, second = builder.start(row.id), builder.start(row.id)
    assert first is second or second.result(timeout=120).status == EnvironmentStatus.FAILED
    assert first.result(timeout=120).status == EnvironmentStatus.FAILED
    assert builder.ensure("datalabs-no-such-package-xyz\n", "web").status == EnvironmentStatus.PENDING


def test_pending_builds_are_started_by_start_pending(settings, session_factory):
    from datalabs.catalogue.environments import EnvironmentBuilder

    builder = EnvironmentBuilder(settings, session_factory)
    try:
        env = builder.ensure("six==1.16.0\n", "web")
        assert env.status == "pending"
        assert builder.start_pending() == [env.id]
        builder.start(env.id).result(timeout=120)
        assert builder.get(env.id).status == "ready"
        assert builder.start_pending() == []
    finally:
        builder.shutdown()


def test_the_demo_leaves_the_shipped_environments_pending_for_the_server(settings, db):
    from datalabs.catalogue.service import CatalogueService
    from datalabs.demo import seed_demo

    settings.build_environments = True
    seed_demo(db, settings)
    shown = {d.name: v for d, v in CatalogueService(db, settings).catalogue(None)}
    assert shown["psa-lab"].environment.status == "pending"  # built by the server's start_pending()
    assert shown["topcat"].environment_id is None  # desktop tool from Debian packages: no environment
