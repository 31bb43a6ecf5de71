"""Launching and managing sessions on behalf of a user. The supervisor does the slow work.

Who may do what: a session is its owner's. Admins may list, inspect and stop anyone's (to run
the platform) but never pass the proxy into it. Anyone else gets 404, as for a session that
does not exist.

Each session gets an API token of its user (``session <id>``, scope ``read``), made when its sandbox
is started and handed to it only in its environment (kept hashed, as every token). It expires when
the session would, follows renewals, and is revoked in :func:`move` as soon as the session is
stopping or over, whatever the path to its end.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session

from datalabs.accounts.actor import Actor
from datalabs.accounts.models import ApiToken
from datalabs.accounts.service import AccountService, require_admin
from datalabs.catalogue.environments import missing_host_packages
from datalabs.catalogue.models import DatalabVersion, EnvironmentStatus
from datalabs.catalogue.service import CatalogueService
from datalabs.execution.contract import BackendError, BackendInfo
from datalabs.db.base import utcnow
from datalabs.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, TooManyRequests
from datalabs.sessions.models import LabSession, LabSessionEvent
from datalabs.settings import Settings
from datalabs.sizes import format_size, parse_size
from datalabs.states import ACTIVE, ALLOWED, TERMINAL, RunState, transition
from datalabs.storage.datasets import DatasetService, can_read, today_utc

# What a notebook may do with its session's token: read (the REST API's GETs, TAP queries by GET). Not
# write: the workspaces are mounted already, and a write token could mint long-lived tokens that outlive
# the session (a token may create tokens with its own scopes), launch sessions or change the account.
SESSION_TOKEN_SCOPES = ("read",)
ENDING = frozenset({RunState.STOPPING, *TERMINAL})  # the session's token is revoked on entering these
SESSION_ID_PREFIX = "s_"  # '_' never occurs in a datalab name, so /datalabs/<id>/ cannot clash with the catalogue


def new_session_id() -> str:
    return SESSION_ID_PREFIX + secrets.token_hex(8)


def is_session_id(text: str) -> bool:
    return (len(text) == len(SESSION_ID_PREFIX) + 16 and text.startswith(SESSION_ID_PREFIX)
            and all(c in "0123456789abcdef" for c in text[len(SESSION_ID_PREFIX):]))


@dataclass(frozen=True)
class LaunchRequest:
    datalab: str
    version: str | None = None
    cpu: float | None = None
    memory: int | str | None = None
    volumes: tuple[str, ...] = ()
    team_workspaces: tuple[str, ...] | None = None  # None: every team of the user


@dataclass(frozen=True)
class LaunchOptions:
    datalab: str
    versions: list[str]
    default_version: str
    kind: str
    cpu_default: float
    cpu_max: float
    memory_default: int
    memory_max: int
    volumes: list[dict]
    team_workspaces: list[str]
    sessions_running: int
    sessions_allowed: int


def record_event(db: Session, session: LabSession, message: str, progress: int | None = None) -> None:
    if progress is None:
        progress = 100 if session.state in (RunState.RUNNING, *TERMINAL) else 0
    db.add(LabSessionEvent(session_id=session.id, state=session.state, progress=progress, message=message))


def move(db: Session, session: LabSession, new: RunState, message: str, *, reason: str = "",
         progress: int | None = None) -> bool:
    """The one place sessions change state: the transition, and an event telling the user.

    The move is a compare-and-set on the stored state: the supervisor and the API work on the same row
    from different transactions (a destroy may land while the supervisor is marking the session
    running). If the row moved meanwhile, the move is tried again from what is stored now, and given up
    (returning False, changing nothing) when it no longer applies: the other party's move stands.
    """
    for attempt in range(3):
        expected = RunState(session.state)
        if expected == RunState(new):
            return False
        if attempt and RunState(new) not in ALLOWED[expected]:
            return False
        if not _state_is_still(db, session, expected, RunState(new)):
            db.refresh(session)
            continue
        if not transition(session, new, reason):
            return False
        break
    else:
        return False
    record_event(db, session, message, progress)
    if RunState(new) in ENDING:
        revoke_session_tokens(db, session)
    return True


def _state_is_still(db: Session, session: LabSession, expected: RunState, new: RunState) -> bool:
    """Store ``new`` if the row is still in ``expected``; False if another transaction moved it."""
    if new not in ALLOWED[expected]:
        return True  # transition() raises InvalidTransition, as for any move the table does not allow
    if inspect(session).persistent is False:
        return True  # not stored yet: nobody else can have moved it
    table = LabSession.__table__
    changed = db.execute(update(table).where(table.c.id == session.id, table.c.state == expected.value)
                         .values(state=new.value)).rowcount
    return changed == 1


def session_token_name(session_id: str) -> str:
    return f"session {session_id}"


def _session_tokens(db: Session, session: LabSession) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).where(
        ApiToken.user_id == session.user_id, ApiToken.name == session_token_name(session.id),
        ApiToken.revoked_at.is_(None))))


def create_session_token(db: Session, session: LabSession, settings: Settings) -> str:
    """A new token for the session's user; its secret goes to the session's environment only. It expires
    when the session could at the latest (start timeout plus lifetime: :func:`follow_session_expiry`
    then keeps it to the session's own expiry). Commits."""
    hours = settings.session_lifetime_hours
    expires = (utcnow() + timedelta(seconds=settings.session_start_timeout_seconds, hours=hours)
               if hours > 0 else None)
    made = AccountService(db).create_token(session.user.name, name=session_token_name(session.id),
                                           scopes=list(SESSION_TOKEN_SCOPES), expires_at=expires)
    return made.secret


def follow_session_expiry(db: Session, session: LabSession) -> None:
    """The session's token expires with the session (set when it runs, moved by a renewal)."""
    for token in _session_tokens(db, session):
        token.expires_at = session.expires_at


def revoke_session_tokens(db: Session, session: LabSession) -> None:
    now = utcnow()
    for token in _session_tokens(db, session):
        token.revoked_at = now


class SessionService:
    def __init__(self, db: Session, settings: Settings, *, backend_name: str | None = None, builder=None) -> None:
        self.db = db
        self.settings = settings
        self.backend_name = backend_name or settings.backend
        self.builder = builder
        self.catalogue = CatalogueService(db, settings, builder, start_builds=builder is not None)
        self.datasets = DatasetService(db)

    # -- reading ----------------------------------------------------------------------------

    def get(self, actor: Actor | None, session_id: str) -> LabSession:
        session = self.db.get(LabSession, session_id) if is_session_id(session_id) else None
        if session is None or actor is None or not (session.user_id == actor.user_id or actor.is_admin):
            raise NotFound(f"no session {session_id!r}", field="session")
        return session

    def owned(self, actor: Actor | None, session_id: str) -> LabSession:
        """The session if ``actor`` owns it (the proxy's rule: not even admins pass)."""
        session = self.db.get(LabSession, session_id) if is_session_id(session_id) else None
        if session is None or actor is None or session.user_id != actor.user_id:
            raise NotFound(f"no session {session_id!r}", field="session")
        return session

    def list(self, actor: Actor | None, *, everyone: bool = False, ended: bool = False) -> list[LabSession]:
        actor = _logged_in(actor)
        query = select(LabSession).order_by(LabSession.created_at.desc())
        if not (everyone and actor.is_admin):
            query = query.where(LabSession.user_id == actor.user_id)
        if not ended:
            query = query.where(LabSession.state.in_([s.value for s in ACTIVE]))
        return list(self.db.scalars(query.limit(500)))

    def events(self, actor: Actor | None, session_id: str, after: int = 0) -> list[LabSessionEvent]:
        session = self.get(actor, session_id)
        return list(self.db.scalars(select(LabSessionEvent).where(
            LabSessionEvent.session_id == session.id, LabSessionEvent.id > after).order_by(LabSessionEvent.id)))

    def active_count(self, user_id: int) -> int:
        return self.db.scalar(select(func.count()).select_from(LabSession).where(
            LabSession.user_id == user_id, LabSession.state.in_([s.value for s in ACTIVE]))) or 0

    # -- launching --------------------------------------------------------------------------

    def options(self, actor: Actor | None, name: str, version: str | None = None) -> LaunchOptions:
        actor = _logged_in(actor)
        chosen = self.catalogue.launchable(actor, name, version)
        datalab = chosen.datalab
        launchable = [v.version for v in self.catalogue.visible_versions(actor, datalab)
                      if v.state == "published" or self.catalogue.can_manage(actor, datalab)]
        cpu_default, cpu_max, memory_default, memory_max = self._limits(chosen)
        today = today_utc()
        volumes = [{"name": d.name, "title": d.title, "mission": d.mission, "private": not can_read(None, d, today)}
                   for d in self.datasets.visible(actor)]
        return LaunchOptions(
            datalab=datalab.name, versions=launchable, default_version=chosen.version, kind=chosen.kind,
            cpu_default=cpu_default, cpu_max=cpu_max, memory_default=memory_default, memory_max=memory_max,
            volumes=volumes, team_workspaces=sorted(actor.teams),
            sessions_running=self.active_count(actor.user_id), sessions_allowed=self.settings.sessions_per_user,
        )

    def _limits(self, version: DatalabVersion) -> tuple[float, float, int, int]:
        runtime = version.runtime or {}
        cpu, memory = runtime.get("cpu") or {}, runtime.get("memory") or {}
        cpu_max = min(float(cpu.get("max", 4.0)), self.settings.session_cpu_max)
        memory_max = min(int(memory.get("max", 8 * 1024**3)), self.settings.session_memory_max)
        cpu_default = min(float(cpu.get("default", 1.0)), cpu_max)
        memory_default = min(int(memory.get("default", 2 * 1024**3)), memory_max)
        return cpu_default, cpu_max, memory_default, memory_max

    def launch(self, actor: Actor | None, request: LaunchRequest) -> LabSession:
        actor = _logged_in(actor)
        version = self.catalogue.launchable(actor, request.datalab, request.version)
        cpu, memory = self._checked_resources(version, request)
        volumes = self._checked_volumes(actor, request.volumes)
        teams = self._checked_teams(actor, request.team_workspaces)
        self._check_runnable(version)
        running = self.active_count(actor.user_id)
        if running >= self.settings.sessions_per_user:
            raise TooManyRequests(
                f"you already have {running} datalab session{'s' if running != 1 else ''} running, the most "
                f"allowed ({self.settings.sessions_per_user}): destroy one before launching another",
                code="session_limit",
            )
        now = utcnow()
        session = LabSession(
            id=new_session_id(), user_id=actor.user_id, datalab_name=version.datalab.name, version=version.version,
            version_id=version.id, kind=version.kind, state=RunState.PENDING.value, reason="", cpu=cpu,
            memory=memory, volumes=volumes, team_workspaces=teams, backend=self.backend_name, backend_state={},
            address={}, reported={}, created_at=now, updated_at=now,
        )
        self.db.add(session)
        self.db.flush()
        record_event(self.db, session, f"launch of {session.datalab_name} {session.version} accepted "
                                       f"({_cpus(cpu)}, {format_size(memory)})", 2)
        self.db.commit()
        return session

    def _checked_resources(self, version: DatalabVersion, request: LaunchRequest) -> tuple[float, int]:
        cpu_default, cpu_max, memory_default, memory_max = self._limits(version)
        cpu = cpu_default if request.cpu is None else request.cpu
        try:
            cpu = float(cpu)
        except (TypeError, ValueError):
            raise InvalidInput("cpu must be a number of CPUs, e.g. 2 or 0.5", field="cpu") from None
        if not 0.1 <= cpu <= cpu_max:
            raise InvalidInput(f"cpu must be between 0.1 and {cpu_max:g} for this datalab, not {cpu:g}", field="cpu")
        try:
            memory = memory_default if request.memory in (None, "") else parse_size(request.memory)
        except (TypeError, ValueError):
            raise InvalidInput("memory must be a size such as 4G or 512M", field="memory") from None
        if not 64 * 1024**2 <= memory <= memory_max:
            raise InvalidInput(f"memory must be between 64M and {format_size(memory_max)} for this datalab, "
                               f"not {format_size(memory)}", field="memory")
        return cpu, memory

    def _checked_volumes(self, actor: Actor, names) -> list[str]:
        chosen: list[str] = []
        for name in names or ():
            if not isinstance(name, str):
                raise InvalidInput("volumes must be a list of archive volume names", field="volumes")
            self.datasets.get(name, actor)  # embargoed volumes: NotFound unless the user may read them
            if name not in chosen:
                chosen.append(name)
        return chosen

    def _checked_teams(self, actor: Actor, names) -> list[str]:
        if names is None:
            return sorted(actor.teams)
        chosen: list[str] = []
        for name in names:
            if not isinstance(name, str) or not actor.in_team(name):
                raise NotFound(f"no team workspace {name!r} of yours", field="team_workspaces")
            if name not in chosen:
                chosen.append(name)
        return chosen

    def _check_runnable(self, version: DatalabVersion) -> None:
        runtime = version.runtime or {}
        missing = missing_host_packages(runtime.get("host_packages") or ())
        if missing:
            raise Conflict(f"this server cannot run {version.datalab.name}: missing host package"
                           f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} (an admin must install "
                           f"the Debian package{'s' if len(missing) > 1 else ''})", code="missing_host_package")
        environment = version.environment
        if runtime.get("environment", "requirements.txt") is not None and version.kind != "desktop":
            if environment is None:
                raise Conflict(f"{version.datalab.name} {version.version} has no environment: an admin must "
                               "rebuild it", code="environment_missing")
            if environment.status == EnvironmentStatus.FAILED.value:
                raise Conflict(f"the environment of {version.datalab.name} {version.version} failed to build: "
                               f"{environment.reason}", code="environment_failed")

    # -- changing ---------------------------------------------------------------------------

    def stop(self, actor: Actor | None, session_id: str) -> LabSession:
        session = self.get(actor, session_id)
        if session.state in (s.value for s in TERMINAL):
            return session
        who = "you" if actor.user_id == session.user_id else f"admin {actor.name}"
        move(self.db, session, RunState.STOPPING, f"destroy asked by {who}", reason=f"destroyed by {who}")
        self.db.commit()
        return session

    def renew(self, actor: Actor | None, session_id: str) -> LabSession:
        session = self.get(actor, session_id)
        if session.state in (s.value for s in TERMINAL) or session.state == RunState.STOPPING.value:
            raise Conflict(f"session {session_id} has ended; launch a new one", code="session_ended")
        hours = self.settings.session_lifetime_hours
        if hours > 0:
            session.expires_at = utcnow() + timedelta(hours=hours)
            follow_session_expiry(self.db, session)
            record_event(self.db, session, f"renewed: runs until {session.expires_at:%Y-%m-%d %H:%M} UTC",
                         100 if session.state == RunState.RUNNING.value else None)
        self.db.commit()
        return session


def _logged_in(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("log in to use datalab sessions")
    return actor


def _cpus(cpu: float) -> str:
    return f"{cpu:g} CPU{'s' if cpu != 1 else ''}"


def describe_backend(actor: Actor | None, backend) -> BackendInfo:
    """What runs sessions and pipeline steps, for admins: the backend's isolation, limits and its own details (for
    Slurm the cluster's partitions as ``sinfo`` shows them). A backend that cannot answer says why, in the details."""
    require_admin(actor)
    try:
        return backend.describe()
    except BackendError as error:
        return BackendInfo(name=backend.name, enforces_limits=False, isolation="unknown",
                           details={"error": error.message})
