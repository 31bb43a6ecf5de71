"""The one state machine of sessions, pipeline runs and their jobs.

Every change of a session's or run's state goes through :func:`transition`: the enum, the table of
allowed moves and the terminal states are here and nowhere else. Backends only report what
they observe; the session supervisor decides, and every failure carries its reason.
"""

from __future__ import annotations

import enum
from datetime import datetime

from datalabs.db.base import utcnow
from datalabs.errors import Conflict


class RunState(enum.StrEnum):
    PENDING = "pending"  # accepted, nothing started yet
    BUILDING = "building"  # waiting for the datalab's environment to be built
    STARTING = "starting"  # processes started, not answering yet
    RUNNING = "running"  # answering through the proxy
    STOPPING = "stopping"  # asked to stop, processes still being ended
    STOPPED = "stopped"  # ended normally (destroyed, expired, idle, finished by itself; a run: cancelled)
    COMPLETED = "completed"  # a run or job that did all its work successfully (sessions never use it)
    FAILED = "failed"  # ended abnormally; ``reason`` says why


TERMINAL = frozenset({RunState.STOPPED, RunState.FAILED, RunState.COMPLETED})
ACTIVE = frozenset(RunState) - TERMINAL

ALLOWED: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.BUILDING, RunState.STARTING, RunState.STOPPING, RunState.STOPPED,
                                 RunState.FAILED}),
    RunState.BUILDING: frozenset({RunState.STARTING, RunState.STOPPING, RunState.STOPPED, RunState.FAILED}),
    RunState.STARTING: frozenset({RunState.RUNNING, RunState.STOPPING, RunState.STOPPED, RunState.FAILED}),
    RunState.RUNNING: frozenset({RunState.STOPPING, RunState.STOPPED, RunState.FAILED, RunState.COMPLETED}),
    RunState.STOPPING: frozenset({RunState.STOPPED, RunState.FAILED}),
    RunState.STOPPED: frozenset(),
    RunState.COMPLETED: frozenset(),
    RunState.FAILED: frozenset(),
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


def transition(record, new: RunState, reason: str = "", *, now: datetime | None = None) -> bool:
    """Move ``record`` (anything with ``state``, ``reason``, ``updated_at`` and ``ended_at``) to ``new``.

    Returns False, changing nothing, when the record is already in ``new`` (observations repeat);
    raises :class:`InvalidTransition` for a move the table does not allow. A failure without a
    reason is refused: the user must always learn why.
    """
    current = RunState(record.state)
    new = RunState(new)
    if current == new:
        return False
    if new not in ALLOWED[current]:
        raise InvalidTransition(f"cannot go from {current.value} to {new.value}")
    if new == RunState.FAILED and not reason:
        raise ValueError("a failure needs a reason")
    now = now or utcnow()
    record.state = new.value
    if reason or new in TERMINAL:
        record.reason = reason
    record.updated_at = now
    if new in TERMINAL:
        record.ended_at = now
    return True
