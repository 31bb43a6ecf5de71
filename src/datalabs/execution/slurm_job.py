"""The program a session's Slurm job runs on its node: ``python -m datalabs.execution.slurm_job RUN_DIR``.

It starts the datalab exactly as the local backend does (the same bubblewrap sandbox, the same
``socat`` bridge into the sandbox's network namespace, the same platform socket at
``/run/datalab/platform.sock``), then opens a TCP port on the node that forwards to the bridge and
admits only the platform's addresses (socat ``range=``), and writes the node's name and that port
into ``RUN_DIR/address.json`` for the proxy. Slurm confines the whole job to its CPUs and memory,
so no cgroup of our own is made. When Slurm or the user cancels the job (SIGTERM), the sandbox is
stopped; the datalab's exit code is written to ``RUN_DIR/exit_code`` either way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datalabs.execution.contract import BackendError, LaunchSpec
from datalabs.execution.local import LocalBackend, signal_group, start_bridge, start_platform_socket, wait_for_socket
from datalabs.execution.slurm import (
    ADDRESS_FILE,
    EXIT_FILE,
    LAUNCH_FILE,
    SECRETS_FILE,
    launch_spec_from,
    write_private,
)

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def _open_port(local_socket: Path, allowed: str, log) -> tuple[subprocess.Popen, int]:
    """socat on the node's network: TCP (platform addresses only) -> the bridge's Unix socket."""
    for _ in range(20):
        port = _free_port()
        front = subprocess.Popen(
            ["socat", "-b", "262144", f"TCP4-LISTEN:{port},fork,reuseaddr,backlog=128,range={allowed}",
             f"UNIX-CONNECT:{local_socket}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and front.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return front, port
            except OSError:
                time.sleep(0.01)
        front.kill()
        front.wait()
    raise BackendError("no port could be opened on this node for the session")


def _read_launch(run_dir: Path) -> tuple[LaunchSpec, str]:
    """The launch the server wrote, with its secrets (their file is removed once read)."""
    launch = json.loads((run_dir / LAUNCH_FILE).read_text())
    data = launch["spec"]
    secrets_path = run_dir / SECRETS_FILE
    if secrets_path.exists():
        data["env"].update(json.loads(secrets_path.read_text()))
        secrets_path.unlink()
    return launch_spec_from(data), launch.get("allowed_sources") or "127.0.0.1/32"


def _start(spec: LaunchSpec, run_dir: Path, local: Path, allowed: str, processes: list, log) -> subprocess.Popen:
    """The platform socket, the sandbox, its bridge and the node's port (as the local backend does, plus the
    port); every process is added to ``processes`` as it starts. Returns the sandbox's launcher."""
    control = run_dir / "control"
    control.mkdir(parents=True, exist_ok=True)
    if spec.platform is not None:
        platform = start_platform_socket(run_dir, control, spec.platform, "")
        processes.append(platform)
        wait_for_socket(control / "platform.sock", platform)
    launcher, child_pid = LocalBackend(cgroups=False).start_sandbox(spec, control, "")
    processes.insert(0, launcher)
    http_socket = local / "http.sock"
    processes.append(start_bridge(local, http_socket, child_pid, spec.port, ""))
    wait_for_socket(http_socket, processes[-1])
    front, port = _open_port(http_socket, allowed, log)
    processes.append(front)
    host = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    write_private(run_dir / ADDRESS_FILE, json.dumps({"host": host, "port": port}))
    print(f"datalabs: the session listens on {host}:{port} (Slurm job {os.environ.get('SLURM_JOB_ID', '?')})",
          flush=True)
    return launcher


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 3
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)


def run(run_dir: Path) -> int:
    os.environ.setdefault("PATH", SYSTEM_PATH)
    spec, allowed = _read_launch(run_dir)
    local = Path(tempfile.mkdtemp(prefix=f"datalab-{spec.session_id}-", dir=os.environ.get("TMPDIR") or "/tmp"))
    processes: list[subprocess.Popen] = []
    stopping = {"signal": None}

    def stop(signum, _frame) -> None:
        stopping["signal"] = signum
        for process in processes:
            signal_group(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 1
    try:
        with open(run_dir / "bridge.log", "ab") as bridge_log:
            launcher = _start(spec, run_dir, local, allowed, processes, bridge_log)
            while (code := launcher.poll()) is None:
                time.sleep(0.2)
    except BackendError as error:
        print(f"datalabs: {error.message}", file=sys.stderr, flush=True)
        code = 1
    finally:
        _stop_all(processes)
        (run_dir / ADDRESS_FILE).unlink(missing_ok=True)
        shutil.rmtree(local, ignore_errors=True)
    if code is not None and code < 0:  # the launcher itself was killed by a signal
        code = 128 - code
    if not (run_dir / EXIT_FILE).exists():  # the launcher did not get to write it (cancelled, failed to start)
        write_private(run_dir / EXIT_FILE, str(code if code is not None else 1))
    if stopping["signal"] is not None:
        return 128 + stopping["signal"]
    return code or 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m datalabs.execution.slurm_job RUN_DIR", file=sys.stderr)
        return 2
    return run(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main())
