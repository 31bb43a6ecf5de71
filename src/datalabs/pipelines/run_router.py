"""Run routes: launch a pipeline, list and show runs, their steps, jobs, events and logs, cancel,
rerun, and download provenance and intermediate outputs. Final outputs are in the workspace."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from datalabs.api.deps import AppSettings, CurrentActor, DbSession
from datalabs.pipelines import run_schemas as schemas
from datalabs.pipelines.runs import RunService
from datalabs.pipelines.service import PipelineService
from datalabs.storage.download import FileDownload

router = APIRouter(prefix="/api/v1", tags=["pipeline runs"])


def get_runs(db: DbSession, settings: AppSettings) -> RunService:
    return RunService(db, settings)


Runs = Annotated[RunService, Depends(get_runs)]


def _wake(request: Request) -> None:
    supervisor = getattr(request.app.state, "pipeline_supervisor", None)
    if supervisor is not None:
        supervisor.wake()


def _detail(runs: RunService, actor, run) -> schemas.RunDetailOut:
    return schemas.RunDetailOut(**schemas.RunOut.of(run).model_dump(),
                                steps=[schemas.StepOut(**s) for s in runs.steps(actor, run.id)])


@router.post("/pipelines/{name}/runs", response_model=schemas.RunOut, status_code=201,
             summary="Run a pipeline: inputs are checked now; the run starts in the background (state pending)")
def launch(name: str, body: schemas.RunIn, actor: CurrentActor, runs: Runs, db: DbSession,
           settings: AppSettings, request: Request):
    version = PipelineService(db, settings).runnable(actor, name, body.version)
    run = runs.launch(actor, version, body.inputs, team=body.team, cpu=body.cpu, provenance=body.provenance)
    _wake(request)
    return schemas.RunOut.of(run)


@router.get("/runs", response_model=list[schemas.RunOut],
            summary="Your pipeline runs, newest first (admins: everyone=true)")
def list_runs(actor: CurrentActor, runs: Runs,
              pipeline: Annotated[str | None, Query(description="Only runs of this pipeline.")] = None,
              state: Annotated[str | None, Query(description="Only runs in this state (or `active`).")] = None,
              everyone: Annotated[bool, Query(description="Admins: every user's runs.")] = False):
    return [schemas.RunOut.of(r) for r in runs.list(actor, everyone=everyone, pipeline=pipeline, state=state)]


@router.get("/runs/{run_id}", response_model=schemas.RunDetailOut, summary="One run, with per-step progress")
def show(run_id: str, actor: CurrentActor, runs: Runs):
    return _detail(runs, actor, runs.get(actor, run_id))


@router.get("/runs/{run_id}/jobs", response_model=list[schemas.JobOut],
            summary="The run's jobs (steps and scatter elements): state, exit code, reason, outputs")
def jobs(run_id: str, actor: CurrentActor, runs: Runs):
    run = runs.get(actor, run_id)
    run_dir = str(runs.run_dir(run))
    return [schemas.JobOut.of(job, run_dir) for job in runs.jobs(actor, run_id)]


@router.get("/runs/{run_id}/events", response_model=list[schemas.RunEventOut],
            summary="The run's history (after=<event id> for the new ones only)")
def events(run_id: str, actor: CurrentActor, runs: Runs, after: Annotated[int, Query(ge=0)] = 0):
    return [schemas.RunEventOut.of(e) for e in runs.events(actor, run_id, after)]


@router.get("/runs/{run_id}/logs", response_class=PlainTextResponse,
            summary="A job's log (job=<name>), or the workflow engine's; from offset, next offset in X-Log-Offset")
def logs(run_id: str, actor: CurrentActor, runs: Runs,
         job: Annotated[str | None, Query(description="Job name (see /jobs); none: the engine's log.")] = None,
         offset: Annotated[int, Query(ge=0)] = 0):
    chunk = runs.logs(actor, run_id, job, offset)
    return PlainTextResponse(chunk.text, headers={"X-Log-Offset": str(chunk.offset)})


@router.post("/runs/{run_id}/cancel", response_model=schemas.RunOut,
             summary="Cancel a run: every running step is stopped; what is done stays in the run")
def cancel(run_id: str, actor: CurrentActor, runs: Runs, request: Request):
    run = runs.cancel(actor, run_id)
    _wake(request)
    return schemas.RunOut.of(run)


@router.post("/runs/{run_id}/rerun", response_model=schemas.RunOut, status_code=201,
             summary="Run the same pipeline version again with the same inputs (a new run)")
def rerun(run_id: str, actor: CurrentActor, runs: Runs, request: Request):
    run = runs.rerun(actor, run_id)
    _wake(request)
    return schemas.RunOut.of(run)


@router.get("/runs/{run_id}/provenance", response_class=FileResponse,
            summary="The run's CWL provenance (zip): a Workflow Run RO-Crate, or cwltool's CWLProv bundle")
def provenance(run_id: str, actor: CurrentActor, runs: Runs):
    crate = runs.provenance_file(actor, run_id)
    return FileResponse(crate, media_type="application/zip", filename=f"{run_id}.{crate.name.split('.', 1)[1]}")


@router.get("/runs/{run_id}/files/{path:path}", response_class=Response,
            summary="Download an intermediate output of a run (paths as /jobs lists them; streamed, HTTP Range)")
def intermediate(run_id: str, path: str, actor: CurrentActor, runs: Runs, request: Request):
    fd, st = runs.intermediate(actor, run_id, path)
    return FileDownload(fd, st, os.path.basename(path), request.headers)
