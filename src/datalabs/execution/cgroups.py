"""CPU and memory limits with Linux control groups, v2 (unified) or v1 (one tree per controller).

One cgroup per session under ``<root>/datalabs/``. The launcher writes its own pid into
``join_files()`` before it becomes the sandbox, so every process of the session is inside from
the first instruction. Memory is limited without swap (a session cannot escape its limit by
swapping) and the kernel's OOM kills are counted, so the supervisor can tell the user why the
session ended. ``kill()`` ends every process in the group: no orphan survives a destroy.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP = "datalabs"
CPU_PERIOD_US = 100_000


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _write_if_present(path: Path, value: str) -> None:
    try:
        _write(path, value)
    except (FileNotFoundError, PermissionError, OSError):
        pass  # e.g. memsw without swap accounting: nothing to close then


@dataclass(frozen=True)
class Cgroup:
    version: int
    paths: tuple[str, ...]  # v2: one folder; v1: one per controller (memory first)

    @property
    def memory_dir(self) -> Path:
        return Path(self.paths[0])

    def join_files(self) -> list[str]:
        return [str(Path(p) / "cgroup.procs") for p in self.paths]

    def pids(self) -> list[int]:
        found: set[int] = set()
        for path in self.paths:
            try:
                text = (Path(path) / "cgroup.procs").read_text()
            except FileNotFoundError:
                continue
            found.update(int(line) for line in text.split())
        return sorted(found)

    def exists(self) -> bool:
        return self.memory_dir.is_dir()

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            text = (self.memory_dir / name).read_text()
        except FileNotFoundError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def memory_used(self) -> int:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the group until none is left (forks during the kill included)."""
        if self.version == 2:
            _write_if_present(self.memory_dir / "cgroup.kill", "1")
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids or time.monotonic() > deadline:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        for path in self.paths:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                self.kill()
                try:
                    os.rmdir(path)
                except OSError:
                    pass


class CgroupDriver:
    """Creates session cgroups. ``detect()`` returns None where cgroups cannot be written."""

    def __init__(self, version: int, root: Path = CGROUP_ROOT) -> None:
        self.version = version
        self.root = root

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> CgroupDriver | None:
        if (root / "cgroup.controllers").exists():
            driver = cls(2, root)
        elif (root / "memory" / "memory.limit_in_bytes").exists() and (root / "cpu").is_dir():
            driver = cls(1, root)
        else:
            return None
        try:
            driver._prepare()
        except OSError:
            return None
        return driver

    def _prepare(self) -> None:
        if self.version == 2:
            base = self.root / GROUP
            base.mkdir(exist_ok=True)
            _write(self.root / "cgroup.subtree_control", "+memory +cpu")
            _write(base / "cgroup.subtree_control", "+memory +cpu")
        else:
            for controller in ("memory", "cpu"):
                (self.root / controller / GROUP).mkdir(exist_ok=True)
            _write_if_present(self.root / "memory" / GROUP / "memory.use_hierarchy", "1")

    def path_of(self, name: str) -> Cgroup:
        if self.version == 2:
            return Cgroup(2, (str(self.root / GROUP / name),))
        return Cgroup(1, tuple(str(self.root / controller / GROUP / name) for controller in ("memory", "cpu")))

    def create(self, name: str, *, cpu: float, memory: int) -> Cgroup:
        group = self.path_of(name)
        for path in group.paths:
            Path(path).mkdir(exist_ok=True)
        quota = max(1000, int(cpu * CPU_PERIOD_US))
        if self.version == 2:
            folder = group.memory_dir
            _write(folder / "memory.max", str(memory))
            _write_if_present(folder / "memory.swap.max", "0")
            _write_if_present(folder / "memory.oom.group", "1")  # the kernel ends the whole session
            _write(folder / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        else:
            memory_dir, cpu_dir = (Path(p) for p in group.paths)
            _write(memory_dir / "memory.limit_in_bytes", str(memory))
            _write_if_present(memory_dir / "memory.memsw.limit_in_bytes", str(memory))
            _write(cpu_dir / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(quota))
        return group

    def find(self, prefix: str) -> list[Cgroup]:
        """Every cgroup of ours whose name starts with ``prefix`` (e.g. the steps of one pipeline run)."""
        base = self.root / GROUP if self.version == 2 else self.root / "memory" / GROUP
        try:
            names = [entry.name for entry in base.iterdir() if entry.is_dir() and entry.name.startswith(prefix)]
        except FileNotFoundError:
            return []
        return [self.path_of(name) for name in sorted(names)]

    def describe(self) -> str:
        return f"cgroup v{self.version} at {self.root}"
