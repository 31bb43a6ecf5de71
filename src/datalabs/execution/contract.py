"""The execution-backend contract: what the core asks of ``local``, ``slurm`` and ``kubernetes``.

A backend starts a described workload, reports what it observes, stops it and hands out its
output. It decides nothing: the session supervisor turns observations into state changes
(``datalabs.states``). What a backend needs to find its workload again after a restart (a pid,
a Slurm job id, a pod name) is returned by ``start`` as a JSON-able dict, stored opaquely on
the session row and given back to every later call, as JupyterHub's ``get_state`` does.

Required methods are checked when a subclass of :class:`BackendBase` is *defined*, so an
incomplete backend fails at import, not in the middle of a user's launch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable


@dataclass(frozen=True)
class Mount:
    """A host folder shown inside the workload at ``target``."""

    source: str
    target: str
    writable: bool = False
    overlay: bool = False  # writable inside, changes thrown away at the end (the source is untouched)


@dataclass(frozen=True)
class Address:
    """Where the proxy reaches a workload (or a workload the platform): a Unix socket on this host, or host and port."""

    unix_socket: str | None = None
    host: str | None = None
    port: int | None = None

    def as_dict(self) -> dict:
        return {"unix_socket": self.unix_socket, "host": self.host, "port": self.port}


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a backend needs to start one session. Paths are host paths."""

    session_id: str
    user: str
    command: tuple[str, ...]
    env: dict[str, str] = field(repr=False)  # may hold secrets (see ``secret_env``): never in a repr
    cpu: float
    memory: int  # bytes
    mounts: tuple[Mount, ...]
    workdir: str
    run_dir: str  # host folder the backend owns for this session (logs, sockets, control files)
    port: int  # the port the app listens on inside the workload
    python_prefixes: tuple[str, ...] = ()  # read-only host trees the environment's Python needs
    # Where the platform's HTTP API listens, as seen from this host: a backend makes it reachable from
    # inside the workload its own way (local: a Unix socket in the control folder); None: not at all.
    platform: Address | None = None
    # Names in ``env`` whose values are secrets (the session's API token): kept off command lines and logs.
    secret_env: frozenset[str] = frozenset()


class Phase(enum.StrEnum):
    QUEUED = "queued"  # accepted by the backend, not running yet (e.g. a Slurm job waiting)
    STARTED = "started"  # processes run; whether the app answers is for the core to check
    EXITED = "exited"  # ended; ``exit_code``/``reason`` say how
    GONE = "gone"  # the backend knows nothing of it any more (e.g. lost in a reboot)


@dataclass(frozen=True)
class Observation:
    phase: Phase
    address: Address | None = None
    exit_code: int | None = None
    reason: str = ""  # why it ended, when the backend knows (memory limit, time limit, node failure)
    detail: str = ""  # shown to the user while queued or starting ("queued: position 3, Resources")
    reported: dict = field(default_factory=dict)  # what the app reported of itself (datalab-status)
    memory_exceeded: bool = False  # the kernel killed a process of it for going over its memory limit


@dataclass(frozen=True)
class LogChunk:
    text: str
    offset: int  # where to continue reading


@dataclass(frozen=True)
class BackendInfo:
    name: str
    enforces_limits: bool
    isolation: str  # one line for the admin page and the docs
    details: dict = field(default_factory=dict)


class BackendError(Exception):
    """A backend could not do what was asked. ``kind`` tells the core what to do about it."""

    RETRIABLE = "retriable"  # try again later (cluster busy, API timeout)
    USER_ACTION = "user_action"  # the user must change something (too much memory asked, ...)
    PERMANENT = "permanent"  # will not work (sandbox tool missing, bad configuration)

    def __init__(self, message: str, kind: str = PERMANENT) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@runtime_checkable
class ExecutionBackend(Protocol):
    name: str

    def start(self, spec: LaunchSpec) -> dict: ...

    def poll(self, state: dict) -> Observation: ...

    def stop(self, state: dict, *, grace: float = 5.0) -> None: ...

    def logs(self, state: dict, offset: int = 0, limit: int = 1 << 20) -> LogChunk: ...

    def describe(self) -> BackendInfo: ...


REQUIRED = ("start", "poll", "stop", "logs", "describe")


class BackendBase:
    """Base for backends: subclasses that leave a required method out fail when defined."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        missing = [method for method in REQUIRED if getattr(cls, method, None) is getattr(BackendBase, method)]
        if missing or not cls.name:
            raise TypeError(f"backend {cls.__name__} must define name and {', '.join(REQUIRED)}; "
                            f"missing: {', '.join(missing) or 'name'}")

    def start(self, spec: LaunchSpec) -> dict:
        raise NotImplementedError

    def poll(self, state: dict) -> Observation:
        raise NotImplementedError

    def stop(self, state: dict, *, grace: float = 5.0) -> None:
        raise NotImplementedError

    def logs(self, state: dict, offset: int = 0, limit: int = 1 << 20) -> LogChunk:
        raise NotImplementedError

    def describe(self) -> BackendInfo:
        raise NotImplementedError


def read_log_file(path: str, offset: int, limit: int) -> LogChunk:
    """A piece of a log file that keeps growing; a missing file is an empty log."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, offset))
            data = handle.read(limit)
    except FileNotFoundError:
        return LogChunk("", offset)
    return LogChunk(data.decode("utf-8", "replace"), offset + len(data))
