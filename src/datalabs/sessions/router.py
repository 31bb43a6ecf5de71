"""Session routes: launch, list, show, progress events, logs, renew, destroy.

The sessions themselves are reached at ``/datalabs/<id>/`` through the proxy (``proxy.py``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from datalabs.api.deps import AppSettings, CurrentActor, DbSession
from datalabs.sessions import schemas
from datalabs.sessions.models import LabSession
from datalabs.sessions.service import LaunchRequest, SessionService, describe_backend
from datalabs.states import TERMINAL

router = APIRouter(prefix="/api/v1", tags=["sessions"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def get_sessions(request: Request, db: DbSession, settings: AppSettings) -> SessionService:
    return SessionService(db, settings, builder=getattr(request.app.state, "env_builder", None))


Sessions = Annotated[SessionService, Depends(get_sessions)]


@router.post("/sessions", response_model=schemas.SessionOut, status_code=201,
             summary="Launch a datalab: returns at once in state pending; follow /events for progress")
def launch(body: schemas.LaunchIn, actor: CurrentActor, sessions: Sessions, request: Request):
    session = sessions.launch(actor, LaunchRequest(
        datalab=body.datalab, version=body.version, cpu=body.cpu, memory=body.memory, volumes=tuple(body.volumes),
        team_workspaces=None if body.team_workspaces is None else tuple(body.team_workspaces)))
    request.app.state.supervisor.wake()
    return schemas.SessionOut.of(session)


@router.get("/sessions", response_model=list[schemas.SessionOut],
            summary="Your sessions (active ones; ended=true adds ended ones; admins: everyone=true)")
def list_sessions(actor: CurrentActor, sessions: Sessions,
                  ended: Annotated[bool, Query(description="Include stopped and failed sessions.")] = False,
                  everyone: Annotated[bool, Query(description="Admins: every user's sessions.")] = False):
    return [schemas.SessionOut.of(s) for s in sessions.list(actor, everyone=everyone, ended=ended)]


@router.get("/backend", response_model=schemas.BackendOut,
            summary="Admins: the execution backend of sessions and pipeline steps, and its state (Slurm: sinfo)")
def backend(actor: CurrentActor, request: Request):
    return schemas.BackendOut(**dataclasses.asdict(describe_backend(actor, request.app.state.supervisor.backend)))


@router.get("/sessions/{session_id}", response_model=schemas.SessionOut, summary="One session")
def show(session_id: str, actor: CurrentActor, sessions: Sessions):
    return schemas.SessionOut.of(sessions.get(actor, session_id))


@router.delete("/sessions/{session_id}", response_model=schemas.SessionOut,
               summary="Destroy a session: its processes are ended; its row, log and your files stay")
def destroy(session_id: str, actor: CurrentActor, sessions: Sessions, request: Request):
    session = sessions.stop(actor, session_id)
    request.app.state.supervisor.wake()
    return schemas.SessionOut.of(session)


@router.post("/sessions/{session_id}/renew", response_model=schemas.SessionOut,
             summary="Keep a session for another `session_lifetime_hours` from now")
def renew(session_id: str, actor: CurrentActor, sessions: Sessions):
    return schemas.SessionOut.of(sessions.renew(actor, session_id))


@router.get("/sessions/{session_id}/events",
            summary="Progress events; with follow=true streamed (SSE) until the session runs or ends")
def events(session_id: str, actor: CurrentActor, sessions: Sessions, request: Request,
           follow: Annotated[bool, Query(description="Stream as server-sent events.")] = False):
    found = [schemas.EventOut.of(e).model_dump(mode="json") for e in sessions.events(actor, session_id)]
    if not follow:
        return found
    factory = request.app.state.session_factory
    settings = request.app.state.settings
    return StreamingResponse(_event_stream(factory, settings, actor, session_id), media_type="text/event-stream",
                             headers=SSE_HEADERS)


async def _event_stream(factory, settings, actor, session_id: str):
    last = 0

    def read(after: int):
        with factory() as db:
            service = SessionService(db, settings)
            found = service.events(actor, session_id, after)
            state = service.get(actor, session_id).state
            return [schemas.EventOut.of(e).model_dump(mode="json") for e in found], state

    while True:
        found, state = await anyio.to_thread.run_sync(read, last)
        for event in found:
            last = event["id"]
            yield f"id: {event['id']}\nevent: progress\ndata: {json.dumps(event)}\n\n"
        if state == "running" or state in TERMINAL:
            yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
            return
        await anyio.sleep(0.2)


@router.get("/sessions/{session_id}/logs",
            summary="The session's output (stdout and stderr); with follow=true streamed (SSE) until it ends")
def logs(session_id: str, actor: CurrentActor, sessions: Sessions, request: Request,
         follow: Annotated[bool, Query(description="Stream as server-sent events until the session ends.")] = False,
         offset: Annotated[int, Query(ge=0, description="Start at this byte.")] = 0):
    session = sessions.get(actor, session_id)
    backend = request.app.state.backend
    if not follow:
        chunk = backend.logs(session.backend_state, offset) if session.backend_state else None
        # X-Log-Offset: where to continue (ask again with ?offset= for the rest of a long log)
        return PlainTextResponse(chunk.text if chunk else "", headers={"X-Log-Offset": str(chunk.offset if chunk else offset)})
    factory = request.app.state.session_factory
    return StreamingResponse(_log_stream(factory, backend, session_id, offset), media_type="text/event-stream",
                             headers=SSE_HEADERS)


async def _log_stream(factory, backend, session_id: str, offset: int):
    partial = ""
    while True:
        def read():
            with factory() as db:
                session = db.get(LabSession, session_id)
                state = session.state
                chunk = backend.logs(session.backend_state, offset) if session.backend_state else None
                return state, chunk

        state, chunk = await anyio.to_thread.run_sync(read)
        if chunk is not None and chunk.text:
            offset = chunk.offset
            lines = (partial + chunk.text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
            partial = lines.pop()
            for line in lines:
                yield f"data: {line}\n\n"
        elif state in TERMINAL:
            if partial:
                yield f"data: {partial}\n\n"
            yield f"event: end\ndata: {state}\n\n"
            return
        await anyio.sleep(0.3)


@router.get("/datalabs/{name}/launch-options", response_model=schemas.LaunchOptionsOut,
            summary="What you may choose when launching this datalab: versions, CPU and memory limits, volumes")
def launch_options(name: str, actor: CurrentActor, sessions: Sessions,
                   version: Annotated[str | None, Query(description="Limits of this version.")] = None):
    return schemas.LaunchOptionsOut(**dataclasses.asdict(sessions.options(actor, name, version)))
