"""The session supervisor: one background thread that drives every active session to its end.

It asks the backend what it observes and decides, through ``sessions.service.move`` (and so
``datalabs.states``), what that means: started and answering is ``running``; exited is
``stopped`` or ``failed`` with the reason; over the memory limit, expired or idle is stopped
with the user told why. Slow work (starting, stopping, asking an app whether it is ready) runs
in a small pool so one slow session never holds up another.

At start-up it adopts what the previous server left: sessions whose processes still run stay
reachable; the others are marked failed with the reason. Nothing is deleted.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from datalabs.accounts.actor import Actor
from datalabs.catalogue.models import DatalabVersion, EnvironmentStatus
from datalabs.db.base import utcnow
from datalabs.errors import DatalabsError
from datalabs.execution.contract import Address, BackendError, Observation, Phase
from datalabs.sessions.models import LabSession, LabSessionEvent
from datalabs.sessions.service import create_session_token, follow_session_expiry, move, record_event
from datalabs.sessions.spec import app_shape, base_url_of, build_spec
from datalabs.settings import Settings
from datalabs.sizes import format_size
from datalabs.states import ACTIVE, RunState
from datalabs.storage.files import FileService

log = logging.getLogger("datalabs.sessions")

FAST_TICK = 0.05  # while a session is starting: launch latency is what users feel
SLOW_TICK = 1.0
ACTIVITY_FLUSH_SECONDS = 30.0


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def http_get(address: Address, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET ``path`` from a session's app; (0, b"") when nothing answers."""
    if address.unix_socket:
        connection: http.client.HTTPConnection = UnixHTTPConnection(address.unix_socket, timeout)
    else:
        connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": "localhost"})
        response = connection.getresponse()
        return response.status, response.read(1 << 20)
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        connection.close()


class SessionSupervisor:
    def __init__(self, settings: Settings, session_factory, backend, *, builder=None) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.backend = backend
        self.builder = builder
        self.activity: dict[str, float] = {}  # session id -> wall time of the last proxied request
        self.on_change = None  # called with a session id whenever its state or address changes
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="session")
        self._thread: threading.Thread | None = None
        self._started_at: dict[str, float] = {}
        self._last_flush = time.monotonic()
        self._last_check: dict[str, float] = {}

    # -- running the loop ---------------------------------------------------------------------

    def start(self) -> None:
        self.adopt()
        self._thread = threading.Thread(target=self._loop, name="session-supervisor", daemon=True)
        self._thread.start()

    def shutdown(self, *, stop_sessions: bool = False) -> None:
        if stop_sessions:
            with self.session_factory() as db:
                for session in db.scalars(select(LabSession).where(
                        LabSession.state.in_([s.value for s in ACTIVE]))):
                    move(db, session, RunState.STOPPING, "server shutting down", reason="the server shut down")
                    db.commit()
                    self._stop(session.id)
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    def touch(self, session_id: str) -> None:
        self.activity[session_id] = time.time()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                starting = self.tick()
            except Exception:  # pragma: no cover - a bug must not stop supervision of every session
                log.exception("session supervisor tick failed")
                starting = False
            self._wake.wait(FAST_TICK if starting else SLOW_TICK)
            self._wake.clear()

    def tick(self) -> bool:
        """Dispatch one step for each active session not already being worked on."""
        with self.session_factory() as db:
            rows = db.execute(select(LabSession.id, LabSession.state).where(
                LabSession.state.in_([s.value for s in ACTIVE]))).all()
        hurry = False
        now = time.monotonic()
        for session_id, state in rows:
            fast = state in (RunState.PENDING, RunState.BUILDING, RunState.STARTING, RunState.STOPPING)
            hurry = hurry or fast
            if not fast and now - self._last_check.get(session_id, 0) < SLOW_TICK:
                continue
            with self._busy_lock:
                if session_id in self._busy:
                    continue
                self._busy.add(session_id)
            self._last_check[session_id] = now
            self._pool.submit(self._guarded_step, session_id)
        if now - self._last_flush > ACTIVITY_FLUSH_SECONDS:
            self._flush_activity()
        return hurry

    def _guarded_step(self, session_id: str) -> None:
        try:
            self.step(session_id)
        except Exception:
            log.exception("supervising session %s failed", session_id)
        finally:
            with self._busy_lock:
                self._busy.discard(session_id)

    def _changed(self, session_id: str) -> None:
        if self.on_change is not None:
            self.on_change(session_id)

    # -- one step -------------------------------------------------------------------------------

    def step(self, session_id: str) -> None:
        with self.session_factory() as db:
            session = db.get(LabSession, session_id)
            if session is None or session.state not in [s.value for s in ACTIVE]:
                return
            state = RunState(session.state)
            if state in (RunState.PENDING, RunState.BUILDING):
                self._prepare(db, session)
            elif state == RunState.STARTING:
                self._check_starting(db, session)
            elif state == RunState.RUNNING:
                self._check_running(db, session)
            elif state == RunState.STOPPING:
                db.close()
                self._stop(session_id)

    def _prepare(self, db, session: LabSession) -> None:
        version = db.get(DatalabVersion, session.version_id) if session.version_id else None
        if version is None:
            move(db, session, RunState.FAILED, "failed", reason="the datalab version was removed")
            db.commit()
            return
        runtime = version.runtime or {}
        needs_env = runtime.get("environment", "requirements.txt") is not None and session.kind != "desktop"
        env = version.environment if needs_env else None
        if needs_env:
            if env is None or env.status == EnvironmentStatus.FAILED.value:
                why = env.reason if env is not None else "it has none"
                move(db, session, RunState.FAILED, "failed", reason=f"the datalab's environment failed to build: {why}")
                db.commit()
                return
            if env.status != EnvironmentStatus.READY.value:
                if move(db, session, RunState.BUILDING, "waiting for the datalab's environment to be built", progress=15):
                    db.commit()
                if env.status == EnvironmentStatus.PENDING.value and self.builder is not None:
                    self.builder.start(env.id)
                return
        self._launch(db, session, version, env.path if env is not None else None)

    def _launch(self, db, session: LabSession, version: DatalabVersion, env_path: str | None) -> None:
        files = FileService(db, self.settings)
        actor = Actor.of(session.user)
        try:
            personal = files.personal_root(actor).host_path
            teams = {name: files.team_root(actor, name).host_path for name in session.team_workspaces
                     if actor.in_team(name)}
            volumes = {name: files.volume_root(actor, name).host_path for name in session.volumes}
        except Exception as error:  # e.g. the volume was removed or re-embargoed since the launch
            move(db, session, RunState.FAILED, "failed", reason=f"cannot mount what was asked: {error}")
            db.commit()
            return
        # the secret lives only in the launch's environment; the token is revoked when the session ends (move)
        try:
            token = create_session_token(db, session, self.settings)
        except DatalabsError as error:  # e.g. the user was removed since the launch
            db.rollback()
            move(db, session, RunState.FAILED, "failed", reason=f"could not make the session's API token: {error}")
            db.commit()
            return
        spec = build_spec(session, version, self.settings, env_path=env_path, personal=personal, teams=teams,
                          volumes=volumes, token=token)
        move(db, session, RunState.STARTING, "starting the sandbox", progress=40)
        db.commit()
        try:
            state = self.backend.start(spec)
        except (BackendError, OSError, ValueError) as error:
            message = getattr(error, "message", None) or str(error)
            move(db, session, RunState.FAILED, "failed", reason=f"could not start: {message}")
            db.commit()
            return
        session.backend_state = state
        self._started_at[session.id] = time.monotonic()
        record_event(db, session, "sandbox started; waiting for the datalab to answer", 60)
        db.commit()
        self._changed(session.id)

    def _check_starting(self, db, session: LabSession) -> None:
        if not session.backend_state:  # the server died between "starting" and the backend's answer
            move(db, session, RunState.FAILED, "failed", reason="the server stopped while the session was starting")
            db.commit()
            return
        observation = self._poll(session)
        if observation.phase == Phase.QUEUED:
            if observation.detail and not _last_event_is(db, session, observation.detail):
                record_event(db, session, observation.detail, 50)
                db.commit()
            self._started_at[session.id] = time.monotonic()
            return
        if observation.phase in (Phase.EXITED, Phase.GONE) or observation.memory_exceeded:
            self._ended(db, session, observation, while_starting=True)
            return
        shape = self._shape(db, session)
        prefix = "/" if shape.strip_prefix else base_url_of(session.id)
        status, _ = http_get(observation.address, prefix + shape.health_path)
        if 200 <= status < 400:
            now = utcnow()
            session.address = observation.address.as_dict()
            session.started_at = now
            session.last_activity_at = now
            hours = self.settings.session_lifetime_hours
            session.expires_at = now + timedelta(hours=hours) if hours > 0 else None
            follow_session_expiry(db, session)
            move(db, session, RunState.RUNNING, "running", progress=100)
            db.commit()
            self._started_at.pop(session.id, None)
            self._changed(session.id)
            return
        began = self._started_at.setdefault(session.id, time.monotonic())
        if time.monotonic() - began > self.settings.session_start_timeout_seconds:
            move(db, session, RunState.STOPPING, "did not answer in time",
                 reason=f"the datalab did not answer within {self.settings.session_start_timeout_seconds:g} s "
                        "(see its log)")
            db.commit()
            self._stop(session.id, failed=True)

    def _shape(self, db, session: LabSession):
        version = db.get(DatalabVersion, session.version_id) if session.version_id else None
        return app_shape(version.runtime if version else {}, session.kind)

    def _poll(self, session: LabSession) -> Observation:
        try:
            return self.backend.poll(session.backend_state)
        except BackendError as error:
            return Observation(Phase.GONE, reason=error.message)

    def _check_running(self, db, session: LabSession) -> None:
        observation = self._poll(session)
        if observation.reported and observation.reported != session.reported:
            session.reported = observation.reported
            db.commit()
        if observation.phase in (Phase.EXITED, Phase.GONE) or observation.memory_exceeded:
            self._ended(db, session, observation)
            return
        reported = observation.reported.get("state")
        if reported in ("finished", "error"):
            message = observation.reported.get("message") or ""
            reason = ("the datalab reported it finished" if reported == "finished"
                      else f"the datalab reported an error: {message or 'no message'}")
            move(db, session, RunState.STOPPING, reason, reason=reason)
            db.commit()
            self._stop(session.id, failed=reported == "error")
            return
        now = utcnow()
        if session.expires_at is not None and now >= session.expires_at:
            self._end_by_platform(db, session, f"expired after {self.settings.session_lifetime_hours:g} h "
                                               "(renew a session to keep it longer)")
            return
        idle = self.settings.session_idle_minutes
        if idle > 0:
            last = self._last_activity(session, observation.address)
            if last is not None and (now - last).total_seconds() > idle * 60:
                self._end_by_platform(db, session, f"stopped after {idle:g} min without use")

    def _end_by_platform(self, db, session: LabSession, reason: str) -> None:
        move(db, session, RunState.STOPPING, reason, reason=reason)
        db.commit()
        self._stop(session.id)

    def _last_activity(self, session: LabSession, address: Address | None) -> datetime | None:
        """The latest of: proxied traffic, and (JupyterLab) its own last activity; a busy kernel is now."""
        times = [session.last_activity_at or session.started_at]
        seen = self.activity.get(session.id)
        if seen is not None:
            times.append(datetime.fromtimestamp(seen, UTC))
        if session.kind == "jupyterlab" and address is not None:
            base = base_url_of(session.id)
            status, body = http_get(address, f"{base}api/kernels")
            try:
                kernels = json.loads(body) if status == 200 else []
            except ValueError:
                kernels = []
            if any(k.get("execution_state") == "busy" for k in kernels if isinstance(k, dict)):
                return utcnow()
            status, body = http_get(address, f"{base}api/status")
            try:
                reported = json.loads(body).get("last_activity") if status == 200 else None
                if reported:
                    times.append(datetime.fromisoformat(reported.replace("Z", "+00:00")))
            except (ValueError, AttributeError):
                pass
        known = [t for t in times if t is not None]
        return max(known) if known else None

    def _ended(self, db, session: LabSession, observation: Observation, *, while_starting: bool = False) -> None:
        """The workload ended (or broke its memory limit): stop what is left, say why."""
        if observation.memory_exceeded:
            reason = observation.reason or (f"stopped: the session went over its memory limit of "
                                            f"{format_size(session.memory)}")
            failed = True
        elif observation.phase == Phase.GONE:
            reason, failed = observation.reason or "the session's processes are gone", True
        elif observation.exit_code == 0 and not while_starting:
            reason, failed = "the datalab finished", False
        elif observation.exit_code == 0:
            reason, failed = "the datalab exited before it answered (see its log)", True
        else:
            reason = observation.reason or f"the datalab exited with code {observation.exit_code}"
            failed = True
        if observation.reported.get("state") == "error":
            reason, failed = f"the datalab reported an error: {observation.reported.get('message') or 'no message'}", True
        elif observation.reported.get("state") == "finished" and not observation.memory_exceeded:
            reason, failed = "the datalab reported it finished", False
        move(db, session, RunState.STOPPING, reason, reason=reason)
        db.commit()
        self._stop(session.id, failed=failed)

    def _stop(self, session_id: str, *, failed: bool | None = None) -> None:
        with self.session_factory() as db:
            session = db.get(LabSession, session_id)
            if session is None or session.state != RunState.STOPPING.value:
                return
            error = ""
            if session.backend_state:
                try:
                    self.backend.stop(session.backend_state)
                except BackendError as problem:
                    error = problem.message
            reason = session.reason or "stopped"
            if error:
                move(db, session, RunState.FAILED, "failed", reason=f"{reason}; stopping it failed: {error}")
            elif failed:
                move(db, session, RunState.FAILED, "failed", reason=reason)
            else:
                move(db, session, RunState.STOPPED, "stopped", reason=reason)
            session.address = {}
            db.commit()
        self.activity.pop(session_id, None)
        self._started_at.pop(session_id, None)
        self._last_check.pop(session_id, None)
        self._changed(session_id)

    # -- start-up -------------------------------------------------------------------------------

    def adopt(self) -> None:
        """Re-adopt what a previous server left; mark failed, with the reason, what did not survive."""
        with self.session_factory() as db:
            sessions = list(db.scalars(select(LabSession).where(
                LabSession.state.in_([RunState.STARTING.value, RunState.RUNNING.value]))))
            for session in sessions:
                if not session.backend_state:
                    move(db, session, RunState.FAILED, "failed",
                         reason="the server stopped while the session was starting")
                    continue
                observation = self._poll(session)
                if observation.phase in (Phase.STARTED, Phase.QUEUED):
                    record_event(db, session, "adopted again after a server restart")
                    continue
                why = observation.reason or (f"it exited with code {observation.exit_code}"
                                             if observation.exit_code is not None else "its processes were gone")
                move(db, session, RunState.STOPPING, "ended while the server was down",
                     reason=f"the session ended while the server was down: {why}")
                db.commit()
                self._stop(session.id, failed=True)
            db.commit()

    def _flush_activity(self) -> None:
        self._last_flush = time.monotonic()
        if not self.activity:
            return
        with self.session_factory() as db:
            for session_id, seen in list(self.activity.items()):
                session = db.get(LabSession, session_id)
                if session is not None:
                    session.last_activity_at = datetime.fromtimestamp(seen, UTC)
            db.commit()


def _last_event_is(db, session: LabSession, message: str) -> bool:
    last = db.scalars(select(LabSessionEvent).where(LabSessionEvent.session_id == session.id)
                      .order_by(LabSessionEvent.id.desc()).limit(1)).first()
    return last is not None and last.message == message
