"""Starting run drivers fast: a warm process that has cwltool imported and its schemas loaded forks
one child per run.

A fresh ``python -m datalabs.pipelines.driver`` spends more than a second importing cwltool and
parsing the CWL schemas before the first step can start. The server therefore keeps one *warm*
process (``python -m datalabs.pipelines.launcher SOCKET``) that did that work once; for each run it
forks a child that becomes the run's driver in a session of its own (so it outlives the server and
the warm process). The warm process is single-threaded (forking is safe), reaps its children,
and exits when the server that started it is gone. Where it cannot be used the supervisor starts a
fresh driver process instead: slower, same result.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY = b"ready\n"


class WarmLauncher:
    """The server's handle on the warm process."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "datalabs.pipelines.launcher", str(self.socket_path), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def ready(self, timeout: float = 0.0) -> bool:
        """True once the warm process listens (it prints ``ready``); never blocks longer than ``timeout``."""
        if self._process is None or self._process.poll() is not None:
            return False
        return self.socket_path.exists() or _wait_for(self.socket_path, timeout)

    def launch(self, run_dir: Path) -> int | None:
        """Fork a driver for ``run_dir``; its pid, or None when the warm process cannot (start one fresh)."""
        if not self.ready():
            return None
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(10)
                conn.connect(str(self.socket_path))
                conn.sendall(str(run_dir).encode() + b"\n")
                answer = conn.makefile("rb").readline()
            return int(answer)
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None
        self.socket_path.unlink(missing_ok=True)


def _wait_for(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.02)
    return path.exists()


def _preload() -> None:
    """What every driver needs: cwltool imported, the CWL schemas parsed (the slow part)."""
    import cwltool.main  # noqa: F401
    from cwltool.process import get_schema
    from cwltool.update import INTERNAL_VERSION

    import datalabs.pipelines.driver  # noqa: F401
    import datalabs.pipelines.sandbox_job  # noqa: F401

    for version in ("v1.0", "v1.2", INTERNAL_VERSION):
        get_schema(version)


def _become_driver(run_dir: Path) -> None:
    """In the forked child: a session of its own, output to the run's log, then the driver."""
    from datalabs.pipelines import driver

    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # cwltool waits for its steps
    fd = os.open(run_dir / "driver.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(run_dir)
    status = 1
    try:
        status = driver.main([str(run_dir)])
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def serve(socket_path: Path, server_pid: int) -> None:
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel: no zombies
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(socket_path) + ".tmp")
        os.chmod(str(socket_path) + ".tmp", 0o600)
        os.replace(str(socket_path) + ".tmp", socket_path)
        listener.listen(16)
        listener.settimeout(1.0)
        sys.stdout.buffer.write(READY)
        sys.stdout.flush()
        while os.getppid() == server_pid:  # the server is gone: so are we (running drivers go on)
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                run_dir = Path(conn.makefile("rb").readline().decode().strip())
                if not (run_dir / "run.json").is_file():
                    conn.sendall(b"0\n")
                    continue
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    conn.close()
                    _become_driver(run_dir)
                conn.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
