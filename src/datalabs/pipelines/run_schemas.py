"""What the run routes accept and return."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from datalabs.pipelines.models import PipelineJob, PipelineRun, PipelineRunEvent


class RunIn(BaseModel):
    version: str | None = Field(None, description="Version to run (default: the latest published, else your latest).")
    inputs: dict = Field(default_factory=dict, description="Input id -> value. Files and folders are platform "
                         "paths: my_workspace/..., team_workspaces/<team>/..., data/<volume>/...")
    team: str | None = Field(None, description="Write the outputs to this team's workspace instead of yours.")
    cpu: float | None = Field(None, description="CPUs the run's steps may use at once (default: your quota).")
    provenance: bool | None = Field(None, description="Record CWL provenance (default: the server's setting).")


class StepOut(BaseModel):
    step: str
    state: str
    total: int | None
    done: int
    failed: int
    running: int


class RunOut(BaseModel):
    id: str
    user: str
    pipeline: str
    version: str
    state: str
    reason: str
    detail: str
    inputs: dict
    outputs: dict
    output_path: str
    cpu: float
    jobs_done: int
    jobs_failed: int
    step_totals: dict
    tags: dict
    attempts: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, run: PipelineRun) -> RunOut:
        return cls(id=run.id, user=run.user.name, pipeline=run.pipeline_name, version=run.pipeline_version,
                   state=run.state, reason=run.reason, detail=run.detail, inputs=run.inputs, outputs=run.outputs,
                   output_path=run.output_path, cpu=run.cpu, jobs_done=run.jobs_done, jobs_failed=run.jobs_failed,
                   step_totals=run.step_totals or {}, tags=run.tags or {}, attempts=run.attempts,
                   created_at=run.created_at, started_at=run.started_at, ended_at=run.ended_at)


class RunDetailOut(RunOut):
    steps: list[StepOut]


class JobOut(BaseModel):
    name: str
    step: str
    state: str
    exit_code: int | None
    reason: str
    outputs: dict = Field(description="Output id -> [{class, path, size}]; paths are relative to the run "
                          "(download them from /api/v1/runs/{id}/files/{path}).")
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, job: PipelineJob, run_dir: str) -> JobOut:
        outputs = {key: [{**item, "path": item["path"].removeprefix(run_dir + "/")} for item in items]
                   for key, items in (job.outputs or {}).items()}
        return cls(name=job.name, step=job.step, state=job.state, exit_code=job.exit_code, reason=job.reason,
                   outputs=outputs, started_at=job.started_at, ended_at=job.ended_at)


class RunEventOut(BaseModel):
    id: int
    at: datetime
    state: str
    message: str

    @classmethod
    def of(cls, event: PipelineRunEvent) -> RunEventOut:
        return cls(id=event.id, at=event.at, state=event.state, message=event.message)
