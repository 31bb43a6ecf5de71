"""Python environments for datalab versions, built with uv into ``<data_dir>/environments/<id>``.

An environment is named by the SHA-256 of what goes into it (``environment_id``): the normalised
requirements (comments and blank lines dropped, lines sorted), the Python version, the base lab
set for JupyterLab datalabs and uv's version. Equal inputs therefore share one environment, and a
version whose environment is already ready needs no build at all (no network, well under 1 s).

A build (``EnvironmentBuilder.build``) checks the host's Debian packages, then runs
``uv venv --relocatable`` and ``uv pip install -r`` into a temporary folder beside the final one,
writing uv's output line by line to ``<data_dir>/environments/<id>.log`` (read live through
``follow_log``), renames the folder into place atomically on success and makes it read-only.
On failure the row says ``failed`` with a one-line reason taken from uv's output; the log stays.
uv's cache (setting ``env_cache_dir``) keeps downloaded wheels, which is where the speed comes from.

``start`` runs builds in a small thread pool (``env_max_builds``); ``recover`` (at start-up) marks
rows a crash left in ``building`` as failed and removes their temporary folders.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from datalabs.catalogue.models import Environment, EnvironmentStatus
from datalabs.db.base import utcnow
from datalabs.settings import Settings

log = logging.getLogger(__name__)

# The standard lab environment a JupyterLab datalab gets, under its own requirements.
BASE_LAB_REQUIREMENTS: tuple[str, ...] = ("ipykernel==7.4.0", "jupyterlab==4.6.6")

HOST_PACKAGES_HEADER = "# host-packages:"
TMP_PREFIX = ".tmp-"
MAX_REASON = 500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# -- ids ----------------------------------------------------------------------------------------


def normalise_requirements(requirements_text: str) -> list[str]:
    """The requirement lines that matter: no comments, no blank lines, single spaces, sorted, unique."""
    lines = set()
    for raw in requirements_text.splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        lines.add(" ".join(line.split()))
    return sorted(lines)


def effective_requirements(requirements_text: str, kind: str) -> list[str]:
    """What gets installed: the base lab set plus the datalab's own lines for JupyterLab, else its own."""
    own = normalise_requirements(requirements_text)
    if kind == "jupyterlab":
        return sorted(set(own) | set(BASE_LAB_REQUIREMENTS))
    return own


def python_version() -> str:
    """The interpreter environments are built on (the platform's own Python), as major.minor."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def uv_binary() -> str:
    candidate = Path(sys.executable).parent / "uv"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("uv")
    if not found:
        raise RuntimeError("uv is not installed: it is needed to build datalab environments")
    return found


@lru_cache(maxsize=4)
def _uv_version(binary: str) -> str:
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def uv_version() -> str:
    return _uv_version(uv_binary())


def environment_id(requirements_text: str, python_version: str, kind: str) -> str:
    """SHA-256 (hex) of the normalised inputs; equal inputs (in any order, any comments) give equal ids."""
    parts = [
        "datalabs-environment-1",
        f"python {python_version}",
        f"uv {uv_version()}",
        f"base {'jupyterlab' if kind == 'jupyterlab' else 'none'}",
        *effective_requirements(requirements_text, kind),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# -- host packages and uv output ----------------------------------------------------------------


def missing_host_packages(names) -> list[str]:
    """The Debian packages among ``names`` that are not installed (all of them without dpkg-query)."""
    missing = []
    dpkg = shutil.which("dpkg-query")
    for name in names:
        if dpkg is None:
            missing.append(name)
            continue
        result = subprocess.run([dpkg, "-W", "-f=${Status}", name], capture_output=True, text=True)
        if result.returncode != 0 or not result.stdout.strip().endswith(" installed"):
            missing.append(name)
    return missing


def failure_reason(output: str) -> str:
    """One line saying why uv failed, from its output."""
    text = _ANSI.sub("", output)
    found = re.search(r"Because (\S+?) was not found in the package registry", text)
    if found:
        return f"package not found: {found.group(1)}"
    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines):
        if line.startswith(("×", "error:", "x ")):
            headline = line.lstrip("×x ").strip()
            headline = headline[len("error:"):].strip() if headline.startswith("error:") else headline
            detail = []
            for follow in lines[index + 1:]:
                if not follow:
                    if detail:
                        break
                    continue
                if follow.startswith(("hint:", "help:")):
                    break
                follow = follow.lstrip("╰─▶│ ").strip()
                detail.append(re.sub(r"^(cause|caused by):\s*", "", follow, flags=re.IGNORECASE))
            reason = " ".join([headline.rstrip(":") + (":" if detail else ""), *detail]).strip()
            return _one_line(reason)
    tail = [line for line in lines if line]
    return _one_line(tail[-1] if tail else "uv failed without output")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _make_read_only(root: Path) -> None:
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode):
                os.chmod(path, stat.S_IMODE(mode) & ~0o222)
        os.chmod(folder, stat.S_IMODE(os.lstat(folder).st_mode) & ~0o222)


def remove_tree(path: Path) -> None:
    """Remove a (possibly read-only) environment folder."""
    if not path.exists():
        return
    for folder, _dirs, _files in os.walk(path):
        os.chmod(folder, 0o755)
    shutil.rmtree(path, ignore_errors=True)


# -- the builder --------------------------------------------------------------------------------


class BuildFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EnvironmentBuilder:
    def __init__(self, settings: Settings, session_factory) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.root = settings.environments_dir
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.RLock()
        self._running: dict[str, Future] = {}

    # paths
    def path_for(self, env_id: str) -> Path:
        return self.root / env_id

    def log_path_for(self, env_id: str) -> Path:
        return self.root / f"{env_id}.log"

    # rows
    def ensure(self, requirements: str, kind: str, host_packages=()) -> Environment:
        """The environment row for these inputs: reused when it exists, else created ``pending``.

        A ready row whose folder has gone, and a failed row, are set back to ``pending`` so that
        ``start`` builds them again (a failed build may have been fixed by installing a host package).
        """
        try:
            return self._ensure(requirements, kind, host_packages)
        except IntegrityError:  # another caller created the same row at the same moment
            return self._ensure(requirements, kind, host_packages)

    def _ensure(self, requirements: str, kind: str, host_packages) -> Environment:
        env_id = environment_id(requirements, python_version(), kind)
        wanted_hosts = sorted(set(host_packages))
        with self.session_factory() as session:
            row = session.get(Environment, env_id)
            if row is None:
                row = Environment(
                    id=env_id, status=EnvironmentStatus.PENDING.value, python_version=python_version(),
                    requirements=self._requirements_text(effective_requirements(requirements, kind), wanted_hosts),
                    path=str(self.path_for(env_id)), log_path=str(self.log_path_for(env_id)),
                )
                session.add(row)
            else:
                hosts = sorted(set(self._host_packages(row.requirements)) | set(wanted_hosts))
                row.requirements = self._requirements_text(self._requirement_lines(row.requirements), hosts)
                if row.status == EnvironmentStatus.FAILED.value or (
                    row.status == EnvironmentStatus.READY.value and not Path(row.path).is_dir()
                ):
                    row.status, row.reason = EnvironmentStatus.PENDING.value, ""
            session.commit()
            session.refresh(row)
            session.expunge(row)
            return row

    def get(self, env_id: str) -> Environment | None:
        with self.session_factory() as session:
            row = session.get(Environment, env_id)
            if row is not None:
                session.expunge(row)
            return row

    @staticmethod
    def _requirements_text(lines: list[str], hosts: list[str]) -> str:
        header = [f"{HOST_PACKAGES_HEADER} {' '.join(hosts)}"] if hosts else []
        return "\n".join([*header, *lines]) + "\n"

    @staticmethod
    def _host_packages(text: str) -> list[str]:
        for line in text.splitlines():
            if line.startswith(HOST_PACKAGES_HEADER):
                return line[len(HOST_PACKAGES_HEADER):].split()
        return []

    @staticmethod
    def _requirement_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]

    def _set(self, env_id: str, **values) -> None:
        with self.session_factory() as session:
            row = session.get(Environment, env_id)
            for key, value in values.items():
                setattr(row, key, value)
            session.commit()

    # building
    def start(self, env_id: str) -> Future:
        """Build in the background (at most ``env_max_builds`` at once); a ready one returns at once."""
        with self._lock:
            running = self._running.get(env_id)
            if running is not None and not running.done():
                return running
            row = self.get(env_id)
            if row is not None and row.status == EnvironmentStatus.READY.value and Path(row.path).is_dir():
                done: Future = Future()
                done.set_result(row)
                return done
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max(1, self.settings.env_max_builds),
                                                    thread_name_prefix="env-build")
            future = self._executor.submit(self.build, env_id)
            self._running[env_id] = future
            future.add_done_callback(lambda _f, key=env_id: self._forget(key, _f))
            return future

    def _forget(self, env_id: str, future: Future) -> None:
        with self._lock:
            if self._running.get(env_id) is future:
                del self._running[env_id]

    def start_pending(self) -> list[str]:
        """Start every build still waiting (imported while no builder ran, e.g. by ``serve --demo``)."""
        with self.session_factory() as session:
            waiting = list(session.scalars(
                select(Environment.id).where(Environment.status == EnvironmentStatus.PENDING.value)))
        for env_id in waiting:
            self.start(env_id)
        return waiting

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait)

    def build(self, env_id: str) -> Environment:
        """Build now, in this thread; returns the row, ``ready`` or ``failed`` (with ``reason``)."""
        row = self.get(env_id)
        if row is None:
            raise KeyError(env_id)
        final = Path(row.path) if row.path else self.path_for(env_id)
        if row.status == EnvironmentStatus.READY.value and final.is_dir():
            return row
        self.root.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path_for(env_id)
        self._set(env_id, status=EnvironmentStatus.BUILDING.value, reason="", started_at=utcnow(),
                  finished_at=None, log_path=str(log_path), path=str(final))
        temp = self.root / f"{TMP_PREFIX}{env_id}"
        started = time.monotonic()
        with log_path.open("w", encoding="utf-8") as out:
            def note(text: str) -> None:
                out.write(text + "\n")
                out.flush()

            try:
                note(f"# environment {env_id}")
                hosts = self._host_packages(row.requirements)
                if hosts:
                    note(f"# checking host packages: {' '.join(hosts)}")
                    missing = missing_host_packages(hosts)
                    if missing:
                        names = ", ".join(missing)
                        raise BuildFailed(f"missing host package: {names} (install the Debian package)")
                remove_tree(temp)
                remove_tree(final)  # a ready row whose folder was damaged, or a leftover
                requirements_file = self.root / f"{TMP_PREFIX}{env_id}.txt"
                requirements_file.write_text("\n".join(self._requirement_lines(row.requirements)) + "\n")
                try:
                    uv = uv_binary()
                    self._run([uv, "venv", "--relocatable", "--no-progress", "--python", sys.executable,
                               str(temp)], note)
                    self._run([uv, "pip", "install", "--no-progress", "--python", str(temp / "bin" / "python"),
                               "-r", str(requirements_file)], note)
                finally:
                    requirements_file.unlink(missing_ok=True)
                os.rename(temp, final)
                _make_read_only(final)
                note(f"# ready in {time.monotonic() - started:.1f} s")
                self._set(env_id, status=EnvironmentStatus.READY.value, finished_at=utcnow())
            except BuildFailed as exc:
                note(f"# failed: {exc.reason}")
                remove_tree(temp)
                self._set(env_id, status=EnvironmentStatus.FAILED.value, reason=exc.reason, finished_at=utcnow())
            except Exception as exc:  # noqa: BLE001 - any failure must end the build, never leave it stuck
                log.exception("environment build %s failed", env_id)
                reason = _one_line(f"build error: {exc}")
                note(f"# failed: {reason}")
                remove_tree(temp)
                self._set(env_id, status=EnvironmentStatus.FAILED.value, reason=reason, finished_at=utcnow())
        return self.get(env_id)

    def _run(self, command: list[str], note) -> None:
        note("$ " + " ".join(command))
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME")}
        env.update(UV_CACHE_DIR=str(self.settings.uv_cache_dir), NO_COLOR="1", UV_PYTHON_DOWNLOADS="never")
        captured: list[str] = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=env, text=True, encoding="utf-8", errors="replace", bufsize=1) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                captured.append(line)
                note(line)
            status = proc.wait()
        if status != 0:
            raise BuildFailed(failure_reason("\n".join(captured)))

    # crash recovery and logs
    def recover(self) -> list[str]:
        """Mark builds a crash interrupted as failed and remove their temporary folders; returns their ids."""
        with self.session_factory() as session:
            rows = session.scalars(
                select(Environment).where(Environment.status == EnvironmentStatus.BUILDING.value)
            ).all()
            ids = [row.id for row in rows]
            for row in rows:
                row.status = EnvironmentStatus.FAILED.value
                row.reason = "interrupted by a server restart"
                row.finished_at = utcnow()
            session.commit()
        if self.root.is_dir():
            for leftover in self.root.glob(f"{TMP_PREFIX}*"):
                if leftover.is_dir():
                    remove_tree(leftover)
                else:
                    leftover.unlink(missing_ok=True)
        return ids

    def follow_log(self, env_id: str, offset: int = 0) -> tuple[str, int, bool]:
        """The log from byte ``offset`` on: (text, new offset, whether the build has finished).

        Only whole lines are returned while the build runs, so a multi-byte character is never cut.
        """
        row = self.get(env_id)
        if row is None:
            raise KeyError(env_id)
        finished = row.status in (EnvironmentStatus.READY.value, EnvironmentStatus.FAILED.value)
        path = Path(row.log_path) if row.log_path else self.log_path_for(env_id)
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return "", offset, finished
        if not finished:
            cut = data.rfind(b"\n") + 1
            data = data[:cut]
        return data.decode("utf-8", errors="replace"), offset + len(data), finished
