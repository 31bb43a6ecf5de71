"""A backend for tests: no sandbox, but a real HTTP server on a Unix socket per session.

Its behaviour is chosen per backend instance so the contract tests and the session tests can
see every path the core must handle: ``ok`` (answers at once), ``slow`` (answers after
``delay`` seconds), ``never`` (stays queued for ever), ``fail`` (refuses to start) and
``crash`` (starts, then exits with code 3 after ``delay`` seconds). Workloads live in a
process-wide table, so a new backend instance (a "restarted server") adopts them again.
"""

from __future__ import annotations

import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

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

BEHAVIOURS = ("ok", "slow", "never", "fail", "crash")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/_headers":  # what reached the app: tests check no platform credential does
            body = "".join(f"{name.lower()}: {value}\n" for name, value in self.headers.items()).encode()
        else:
            body = f"fake datalab {self.server.session_id} at {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # a health check that hung up early
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@dataclass
class _Workload:
    server: _Server | None
    started: float
    behaviour: str
    delay: float
    exit_code: int | None = None


_WORKLOADS: dict[str, _Workload] = {}
_LOCK = threading.Lock()


class FakeBackend(BackendBase):
    name = "fake"

    def __init__(self, settings=None, *, behaviour: str = "ok", delay: float = 0.5) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}")
        self.behaviour = behaviour
        self.delay = delay

    def start(self, spec: LaunchSpec) -> dict:
        if self.behaviour == "fail":
            raise BackendError("the fake backend refuses to start anything", BackendError.USER_ACTION)
        run_dir = Path(spec.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "session.log").write_text(f"fake start of {spec.session_id}: {' '.join(spec.command)}\n")
        socket_path = run_dir / "http.sock"
        socket_path.unlink(missing_ok=True)
        server = None
        if self.behaviour != "never":
            server = _Server(str(socket_path), _Handler)
            server.session_id = spec.session_id
        workload = _Workload(server, time.monotonic(), self.behaviour, self.delay)
        with _LOCK:
            _WORKLOADS[spec.session_id] = workload
        if server is not None:
            threading.Thread(target=self._serve, args=(workload,), daemon=True).start()
        return {"id": spec.session_id, "run_dir": str(run_dir), "socket": str(socket_path)}

    def _serve(self, workload: _Workload) -> None:
        if workload.behaviour == "slow":
            time.sleep(workload.delay)
        workload.server.serve_forever(poll_interval=0.05)

    def poll(self, state: dict) -> Observation:
        workload = _WORKLOADS.get(state["id"])
        if workload is None:
            return Observation(Phase.GONE, reason="the fake backend has no such workload")
        if workload.exit_code is not None:
            return Observation(Phase.EXITED, exit_code=workload.exit_code,
                               reason="" if workload.exit_code == 0 else f"exited with code {workload.exit_code}")
        if workload.behaviour == "never":
            return Observation(Phase.QUEUED, detail="queued: position 1 (the fake backend never starts)")
        if workload.behaviour == "crash" and time.monotonic() - workload.started > workload.delay:
            self._end(workload, 3)
            return Observation(Phase.EXITED, exit_code=3, reason="exited with code 3")
        return Observation(Phase.STARTED, address=Address(unix_socket=state["socket"]))

    @staticmethod
    def _end(workload: _Workload, code: int) -> None:
        workload.exit_code = code
        if workload.server is not None:
            workload.server.shutdown()
            workload.server.server_close()
            workload.server = None

    def stop(self, state: dict, *, grace: float = 5.0) -> None:
        workload = _WORKLOADS.get(state["id"])
        if workload is not None and workload.exit_code is None:
            self._end(workload, 0)
        Path(state["socket"]).unlink(missing_ok=True)

    def logs(self, state: dict, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        return read_log_file(str(Path(state["run_dir"]) / "session.log"), offset, limit)

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, enforces_limits=False, isolation="none (tests only)",
                           details={"behaviour": self.behaviour})

    @staticmethod
    def forget_all() -> None:
        """Lose every workload, as a reboot would (tests of re-adoption)."""
        with _LOCK:
            for workload in _WORKLOADS.values():
                if workload.exit_code is None:
                    FakeBackend._end(workload, 137)
            _WORKLOADS.clear()
