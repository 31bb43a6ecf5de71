"""The ``local`` backend: each session is a bubblewrap sandbox on this machine, in its own cgroup.

Processes are started detached (their own session, output to a log file), so they outlive a
crash of the server and are adopted again from the state kept on the session row: pids with
their kernel start times (a recycled pid is never mistaken for the session), the cgroup, the
socket. A small wrapper shell joins the cgroup, runs the sandbox and writes its exit code next
to the log, so even a session that ended while the server was down is reported truly.

The app listens on ``127.0.0.1:<port>`` inside the sandbox's own network namespace. A ``socat``
bridge entered into that namespace (``nsenter --net``) but living in the host's file system
listens on ``<run_dir>/http.sock``: the proxy connects there. The socket's folder is invisible
from inside, so a session cannot point the proxy anywhere else.

The other way, a second ``socat`` on the host listens on ``<run_dir>/control/platform.sock``
(``/run/datalab/platform.sock`` inside) and connects each client to the platform's own HTTP port:
the only way out of the sandbox, so notebooks call the REST API and TAP as their user (with the
session's token, ``DATALABS_TOKEN``). Secrets of the environment reach bwrap through ``--args``
(a pipe), never its command line, which every user of the host may read in ``/proc``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from datalabs.execution.cgroups import Cgroup, CgroupDriver
from datalabs.execution.contract import (
    Address,
    BackendBase,
    BackendError,
    BackendInfo,
    LaunchSpec,
    LogChunk,
    Observation,
    Phase,
    read_log_file,
)
from datalabs.execution.sandbox import bwrap_binary, bwrap_command
from datalabs.sizes import format_size

LOG_NAME = "session.log"
SOCKET_NAME = "http.sock"
PLATFORM_SOCKET_NAME = "platform.sock"  # in the control folder: /run/datalab/platform.sock inside
STATUS_NAME = "status.json"
REPORTED_STATES = ("running", "finished", "error")
MAX_STATUS_BYTES = 4096

LAUNCHER = """
for f in $DATALABS_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done
unset DATALABS_CGROUP_PROCS
"$@"
code=$?
echo $code > "$DATALABS_EXIT_FILE.tmp" && mv "$DATALABS_EXIT_FILE.tmp" "$DATALABS_EXIT_FILE"
exit $code
"""

BRIDGE = """
for f in $DATALABS_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done
unset DATALABS_CGROUP_PROCS
exec "$@"
"""


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie is over, whatever its pid table entry says
        return None
    return int(fields[19])


def _alive(pid: int | None, started: int | None) -> bool:
    return pid is not None and started is not None and process_start_time(pid) == started


def read_reported(control_dir: Path) -> dict:
    """What the app said of itself with ``datalab-status``: never following a link, bounded, checked."""
    try:
        fd = os.open(control_dir / STATUS_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        data = os.read(fd, MAX_STATUS_BYTES)
    finally:
        os.close(fd)
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    if not isinstance(value, dict) or value.get("state") not in REPORTED_STATES:
        return {}
    return {"state": value["state"], "message": str(value.get("message", ""))[:500]}


class LocalBackend(BackendBase):
    name = "local"

    def __init__(self, settings=None, *, cgroups: CgroupDriver | None | bool = True) -> None:
        self.settings = settings
        self.cgroups = CgroupDriver.detect() if cgroups is True else (cgroups or None)
        self._children: dict[int, subprocess.Popen] = {}

    # -- start ------------------------------------------------------------------------------

    def start(self, spec: LaunchSpec) -> dict:
        _check_tools()
        run_dir = Path(spec.run_dir)
        control = run_dir / "control"
        control.mkdir(parents=True, exist_ok=True)
        (control / STATUS_NAME).unlink(missing_ok=True)
        (control / PLATFORM_SOCKET_NAME).unlink(missing_ok=True)
        socket_path = run_dir / SOCKET_NAME
        socket_path.unlink(missing_ok=True)
        (run_dir / "exit_code").unlink(missing_ok=True)
        group = self._cgroup(spec)
        procs = " ".join(group.join_files()) if group else ""
        # before the sandbox, so the socket is there when the datalab's code first looks
        platform = start_platform_socket(run_dir, control, spec.platform, procs) if spec.platform else None
        try:
            if platform is not None:
                wait_for_socket(control / PLATFORM_SOCKET_NAME, platform)
            launcher, child_pid = self.start_sandbox(spec, control, procs)
            bridge = start_bridge(run_dir, socket_path, child_pid, spec.port, procs)
        except BackendError:
            if platform is not None:
                signal_group(platform.pid, signal.SIGKILL)
                platform.wait(timeout=5)
            if group:
                group.kill()
                group.remove()
            raise
        self._children[launcher.pid] = launcher
        self._children[bridge.pid] = bridge
        state = {
            "run_dir": str(run_dir),
            "pid": launcher.pid, "pid_started": process_start_time(launcher.pid),
            "bridge_pid": bridge.pid, "bridge_started": process_start_time(bridge.pid),
            "child_pid": child_pid,
            "socket": str(socket_path),
            "cgroup": {"version": group.version, "paths": list(group.paths)} if group else None,
            "memory": spec.memory,
        }
        if platform is not None:
            self._children[platform.pid] = platform
            state.update(platform_pid=platform.pid, platform_started=process_start_time(platform.pid),
                         platform_socket=str(control / PLATFORM_SOCKET_NAME))
        return state

    def start_sandbox(self, spec: LaunchSpec, control: Path, procs: str) -> tuple[subprocess.Popen, int]:
        """The launcher shell (joins the cgroup, runs bwrap, records the exit code), and the sandbox's pid."""
        run_dir = Path(spec.run_dir)
        info_read, info_write = os.pipe()
        args_read = -1
        try:
            secrets = {key: spec.env[key] for key in sorted(spec.secret_env) if key in spec.env}
            public = replace(spec, env={k: v for k, v in spec.env.items() if k not in secrets})
            command = bwrap_command(public, control)
            passed = [info_write]
            if secrets:
                args_read = _args_pipe([part for key, value in secrets.items() for part in ("--setenv", key, value)])
                separator = len(command) - len(spec.command) - 1  # the "--" before the command; after --clearenv
                command[separator:separator] = ["--args", str(args_read)]
                passed.append(args_read)
            command[1:1] = ["--info-fd", str(info_write)]
            with open(run_dir / LOG_NAME, "ab") as log:
                launcher = subprocess.Popen(
                    ["/bin/sh", "-c", LAUNCHER, "datalab-launcher", *command],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=tuple(passed),
                    start_new_session=True, close_fds=True,
                    env={"PATH": "/usr/bin:/bin", "DATALABS_CGROUP_PROCS": procs,
                         "DATALABS_EXIT_FILE": str(run_dir / "exit_code")},
                )
            os.close(info_write)
            info_write = -1
            return launcher, self._read_child_pid(info_read, launcher)
        finally:
            os.close(info_read)
            for fd in (info_write, args_read):
                if fd >= 0:
                    os.close(fd)

    def _cgroup(self, spec: LaunchSpec) -> Cgroup | None:
        if self.cgroups is None:
            return None
        try:
            return self.cgroups.create(f"session-{spec.session_id}", cpu=spec.cpu, memory=spec.memory)
        except OSError as error:
            raise BackendError(f"could not set the session's CPU and memory limits: {error}") from error

    @staticmethod
    def _read_child_pid(fd: int, launcher: subprocess.Popen) -> int:
        """bwrap writes ``{"child-pid": N}`` once the sandbox exists; nothing if it failed to set up."""
        data = b""
        while b"}" not in data:
            piece = os.read(fd, 4096)
            if not piece:
                break
            data += piece
        try:
            return int(json.loads(data)["child-pid"])
        except (ValueError, KeyError, TypeError):
            launcher.wait(timeout=10)
            raise BackendError("the sandbox could not be set up (see the session log)") from None

    # -- observe ----------------------------------------------------------------------------

    @staticmethod
    def _group(state: dict) -> Cgroup | None:
        cgroup = state.get("cgroup")
        return Cgroup(cgroup["version"], tuple(cgroup["paths"])) if cgroup else None

    def _reap(self, pid: int | None) -> None:
        child = self._children.get(pid) if pid else None
        if child is not None and child.poll() is not None:
            self._children.pop(pid, None)

    def poll(self, state: dict) -> Observation:
        for pid, _ in _processes(state):
            self._reap(pid)
        run_dir = Path(state["run_dir"])
        reported = read_reported(run_dir / "control")
        group = self._group(state)
        over_memory = bool(group and group.oom_kills() > 0)
        reason = _memory_reason(state) if over_memory else ""
        if _alive(state.get("pid"), state.get("pid_started")):
            address = Address(unix_socket=state["socket"])
            return Observation(Phase.STARTED, address=address, reason=reason, reported=reported,
                               memory_exceeded=over_memory)
        exit_code = _read_exit_code(run_dir)
        if exit_code is None and not run_dir.exists():
            return Observation(Phase.GONE, reason="the session's files are gone")
        if not reason and exit_code not in (None, 0):
            reason = f"the datalab exited with code {exit_code}"
            if exit_code >= 128:
                reason = f"the datalab was killed by signal {exit_code - 128}"
        return Observation(Phase.EXITED, exit_code=exit_code, reason=reason, reported=reported,
                           memory_exceeded=over_memory)

    def logs(self, state: dict, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        return read_log_file(str(Path(state["run_dir"]) / LOG_NAME), offset, limit)

    # -- stop -------------------------------------------------------------------------------

    def stop(self, state: dict, *, grace: float = 5.0) -> None:
        group = self._group(state)
        pids = _processes(state)
        for pid, started in pids:
            if _alive(pid, started):
                signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(pid, started) for pid, started in pids):
            for pid, _ in pids:
                self._reap(pid)
            time.sleep(0.05)
        for pid, started in pids:
            if _alive(pid, started):
                signal_group(pid, signal.SIGKILL)
        if group:
            group.kill()
            group.remove()
        for pid, _ in pids:
            child = self._children.pop(pid, None) if pid else None
            if child is not None:
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:  # pragma: no cover - killed above
                    pass
        Path(state["socket"]).unlink(missing_ok=True)
        if state.get("platform_socket"):
            Path(state["platform_socket"]).unlink(missing_ok=True)

    def pids(self, state: dict) -> list[int]:
        """Every process of the session still alive (tests use it to prove nothing is left)."""
        group = self._group(state)
        found = set(group.pids()) if group and group.exists() else set()
        for pid, started in _processes(state):
            if _alive(pid, started):
                found.add(pid)
        return sorted(found)

    def describe(self) -> BackendInfo:
        limits = self.cgroups.describe() if self.cgroups else "not enforced (no writable cgroup hierarchy)"
        return BackendInfo(
            name=self.name,
            enforces_limits=self.cgroups is not None,
            isolation="bubblewrap: own user, PID, IPC, UTS and network namespaces; read-only system; "
                      "only the launch's mounts",
            details={"cpu_and_memory_limits": limits, "bwrap": bwrap_binary() or "missing"},
        )


# (pid, kernel start time) keys of the state: the launcher, the app's bridge, the platform socket (absent
# from the state of sessions started before it existed)
PROCESS_KEYS = (("pid", "pid_started"), ("bridge_pid", "bridge_started"), ("platform_pid", "platform_started"))


def _processes(state: dict) -> list[tuple[int | None, int | None]]:
    return [(state.get(pid), state.get(started)) for pid, started in PROCESS_KEYS]


def _check_tools() -> None:
    if bwrap_binary() is None:
        raise BackendError("the sandbox tool bwrap is not installed (Debian package bubblewrap)")
    for tool, package in (("socat", "socat"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            raise BackendError(f"{tool} is not installed on the server (Debian package {package})")


def start_bridge(run_dir: Path, socket_path: Path, child_pid: int, port: int, procs: str) -> subprocess.Popen:
    """socat in the sandbox's network namespace, listening on a socket in the host's file system."""
    with open(run_dir / "bridge.log", "ab") as bridge_log:  # "connection refused" until the app listens
        return subprocess.Popen(
            ["/bin/sh", "-c", BRIDGE, "datalab-bridge", "nsenter", f"--net=/proc/{child_pid}/ns/net", "--",
             "socat", "-b", "262144", f"UNIX-LISTEN:{socket_path},fork,mode=600,unlink-early,backlog=128",
             f"TCP:127.0.0.1:{port},nodelay"],
            stdin=subprocess.DEVNULL, stdout=bridge_log, stderr=subprocess.STDOUT, start_new_session=True,
            env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "DATALABS_CGROUP_PROCS": procs},
        )


def start_platform_socket(run_dir: Path, control: Path, platform: Address, procs: str) -> subprocess.Popen:
    """socat on the host: ``<control>/platform.sock`` (``/run/datalab/platform.sock`` inside) to the
    platform's HTTP port. Mode 600 is enough: the session's user is the server's uid outside."""
    host = platform.host or "127.0.0.1"
    target = f"TCP6:[{host}]:{platform.port}" if ":" in host else f"TCP4:{host}:{platform.port}"
    with open(run_dir / "platform.log", "ab") as platform_log:
        return subprocess.Popen(  # a path relative to its folder: socket paths are limited to 108 bytes
            ["/bin/sh", "-c", BRIDGE, "datalab-platform-socket",
             "socat", "-b", "262144", f"UNIX-LISTEN:{PLATFORM_SOCKET_NAME},fork,mode=600,unlink-early,backlog=128",
             f"{target},nodelay"],
            cwd=control, stdin=subprocess.DEVNULL, stdout=platform_log, stderr=subprocess.STDOUT,
            start_new_session=True, env={"PATH": "/usr/bin:/bin", "DATALABS_CGROUP_PROCS": procs},
        )


def wait_for_socket(path: Path, process: subprocess.Popen, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_socket():
        if process.poll() is not None or time.monotonic() > deadline:
            raise BackendError(f"the platform socket could not be made (see {path.parent.parent / 'platform.log'})")
        time.sleep(0.002)


def _args_pipe(args: list[str]) -> int:
    """A pipe holding NUL-separated arguments for bwrap's ``--args``; returns its read end."""
    data = b"".join(arg.encode() + b"\0" for arg in args)
    read, write = os.pipe()
    try:
        if len(data) > 60000:  # a pipe holds 64 KiB: more would block this thread before bwrap reads
            raise BackendError("the session's secrets are too large")
        os.write(write, data)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return read


def _memory_reason(state: dict) -> str:
    return (f"stopped: the session went over its memory limit of {format_size(state.get('memory', 0))}; "
            "launch it with more memory or use less")


def _read_exit_code(run_dir: Path) -> int | None:
    try:
        return int((run_dir / "exit_code").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
