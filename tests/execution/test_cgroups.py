"""Session cgroups on both hierarchies. v2 is checked against a folder laid out like
/sys/fs/cgroup (this kind of machine runs v1, which the sandbox tests use for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datalabs.execution.cgroups import CgroupDriver


def fake_root(tmp_path: Path, version: int) -> Path:
    root = tmp_path / "cgroup"
    if version == 2:
        root.mkdir()
        (root / "cgroup.controllers").write_text("cpu memory pids\n")
        (root / "cgroup.subtree_control").write_text("")
    else:
        for controller in ("memory", "cpu"):
            (root / controller).mkdir(parents=True)
        (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    return root


def test_v2_limits_memory_without_swap_and_cpu_by_quota(tmp_path):
    root = fake_root(tmp_path, 2)
    driver = CgroupDriver.detect(root)
    assert driver is not None and driver.version == 2
    group = driver.create("session-s_1", cpu=1.5, memory=512 * 1024**2)
    folder = root / "datalabs" / "session-s_1"
    assert (folder / "memory.max").read_text() == str(512 * 1024**2)
    assert (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "memory.oom.group").read_text() == "1"
    assert (folder / "cpu.max").read_text() == "150000 100000"
    assert group.join_files() == [str(folder / "cgroup.procs")]
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1
    assert "+memory" in (root / "datalabs" / "cgroup.subtree_control").read_text()


def test_v1_uses_one_folder_per_controller(tmp_path):
    root = fake_root(tmp_path, 1)
    driver = CgroupDriver.detect(root)
    assert driver is not None and driver.version == 1
    group = driver.create("session-s_2", cpu=0.5, memory=256 * 1024**2)
    memory, cpu = root / "memory" / "datalabs" / "session-s_2", root / "cpu" / "datalabs" / "session-s_2"
    assert (memory / "memory.limit_in_bytes").read_text() == str(256 * 1024**2)
    assert (cpu / "cpu.cfs_quota_us").read_text() == "50000"
    assert group.join_files() == [str(memory / "cgroup.procs"), str(cpu / "cgroup.procs")]
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.oom_kills() == 2


def test_no_hierarchy_means_no_driver(tmp_path):
    assert CgroupDriver.detect(tmp_path / "nothing") is None


@pytest.mark.skipif(not Path("/sys/fs/cgroup").exists(), reason="no cgroups")
def test_the_real_hierarchy_is_found_when_writable():
    driver = CgroupDriver.detect()
    if driver is not None:
        assert driver.version in (1, 2) and "cgroup v" in driver.describe()
