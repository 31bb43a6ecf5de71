"""Session state moves from two transactions at once (the supervisor's and the API's)."""

from __future__ import annotations

import pytest

from datalabs.accounts.service import AccountService
from datalabs.sessions.models import LabSession, LabSessionEvent
from datalabs.sessions.service import move
from datalabs.states import RunState

SESSION_ID = "s_00000000000000aa"


@pytest.fixture
def starting_session(new_user, session_factory):
    new_user("alice")
    with session_factory() as db:
        alice = AccountService(db).user("alice")
        db.add(LabSession(id=SESSION_ID, user_id=alice.id, datalab_name="tiny", version="1.0", kind="jupyterlab",
                          state="starting", reason="", cpu=1.0, memory=1024**3, volumes=[], team_workspaces=[],
                          backend="fake", backend_state={"id": SESSION_ID}, address={}, reported={}))
        db.commit()
    return SESSION_ID


def _messages(session_factory) -> list[str]:
    with session_factory() as db:
        return [e.message for e in db.query(LabSessionEvent).filter_by(session_id=SESSION_ID)
                .order_by(LabSessionEvent.id)]


def test_a_destroy_landing_while_the_supervisor_marks_the_session_running_wins(starting_session, session_factory):
    """The supervisor read the session as starting; the user's destroy commits before the supervisor's
    "running": the session stays stopping (so the supervisor stops it), its destroy is never lost."""
    with session_factory() as supervisor_view, session_factory() as user_view:
        seen = supervisor_view.get(LabSession, SESSION_ID)
        destroyed = user_view.get(LabSession, SESSION_ID)
        assert move(user_view, destroyed, RunState.STOPPING, "destroy asked by you", reason="destroyed by you")
        user_view.commit()
        assert seen.state == "starting"  # the supervisor's stale view
        assert not move(supervisor_view, seen, RunState.RUNNING, "running")
        supervisor_view.commit()
        assert seen.state == "stopping"
    with session_factory() as db:
        stored = db.get(LabSession, SESSION_ID)
        assert (stored.state, stored.reason) == ("stopping", "destroyed by you")
    assert _messages(session_factory) == ["destroy asked by you"]


def test_a_destroy_read_before_the_session_ran_still_stops_it(starting_session, session_factory):
    """The other order: the user's view is stale (starting) when the supervisor has committed running.
    The destroy is retried from the stored state and lands."""
    with session_factory() as supervisor_view, session_factory() as user_view:
        destroyed = user_view.get(LabSession, SESSION_ID)
        seen = supervisor_view.get(LabSession, SESSION_ID)
        assert move(supervisor_view, seen, RunState.RUNNING, "running")
        supervisor_view.commit()
        assert destroyed.state == "starting"
        assert move(user_view, destroyed, RunState.STOPPING, "destroy asked by you", reason="destroyed by you")
        user_view.commit()
    with session_factory() as db:
        assert db.get(LabSession, SESSION_ID).state == "stopping"
    assert _messages(session_factory) == ["running", "destroy asked by you"]


def test_a_move_the_table_forbids_is_still_refused(starting_session, session_factory):
    from datalabs.states import InvalidTransition

    with session_factory() as db:
        session = db.get(LabSession, SESSION_ID)
        with pytest.raises(InvalidTransition):
            move(db, session, RunState.PENDING, "back to pending")
