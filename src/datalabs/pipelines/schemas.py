"""API shapes for pipelines."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from datalabs.pipelines.models import Pipeline, PipelineVersion

# catalogue


class PipelineVersionSummary(BaseModel):
    version: str
    state: str = Field(description="draft, submitted, published or rejected.")
    title: str
    cwl_class: str = Field(description="CommandLineTool, ExpressionTool or Workflow.")
    tags: list[str]
    uses: list[str] = Field(description="Catalogue steps it uses, as NAME@VERSION.")
    environments: list[str] = Field(description="Datalabs whose environment its steps run in.")
    source: str
    source_kind: str = Field(description="file, folder, git or editor.")
    rejection_reason: str
    reviewed_by: str
    created_at: datetime
    submitted_at: datetime | None
    published_at: datetime | None

    @classmethod
    def of(cls, row: PipelineVersion) -> PipelineVersionSummary:
        return cls(version=row.version, state=row.state, title=row.title, cwl_class=row.cwl_class, tags=row.tags,
                   uses=row.uses, environments=row.environments, source=row.source, source_kind=row.source_kind,
                   rejection_reason=row.rejection_reason, reviewed_by=row.reviewed_by, created_at=row.created_at,
                   submitted_at=row.submitted_at, published_at=row.published_at)


class PipelineVersionOut(PipelineVersionSummary):
    name: str
    doc: str
    cwl_version: str
    main_file: str
    source_text: str = Field(description="The main CWL document as imported.")
    packed: dict = Field(description="The whole pipeline as one self-contained CWL document (JSON).")
    inputs: list[dict] = Field(description="Inputs: id, label, doc, type, items/symbols, optional, default, format.")
    outputs: list[dict]
    graph: dict = Field(description="inputs, outputs, steps (id, label, run_class, scatter, in, environment), "
                                    "edges (from, to), docker (step, image, required, fallback).")

    @classmethod
    def of(cls, row: PipelineVersion) -> PipelineVersionOut:
        return cls(**PipelineVersionSummary.of(row).model_dump(), name=row.pipeline.name, doc=row.doc,
                   cwl_version=row.cwl_version, main_file=row.main_file, source_text=row.source_text,
                   packed=row.packed, inputs=row.inputs, outputs=row.outputs, graph=row.graph)


class PipelineSummary(BaseModel):
    name: str
    kind: str = Field(description="step (CommandLineTool, ExpressionTool) or pipeline (Workflow).")
    title: str
    doc: str
    tags: list[str]
    version: str = Field(description="The version shown: the latest published, else the latest visible.")
    state: str
    official: bool = Field(description="A system pipeline, maintained by the admins.")
    withdrawn: bool
    owner: str
    team: str | None
    updated_at: datetime

    @classmethod
    def of(cls, pipeline: Pipeline, shown: PipelineVersion) -> PipelineSummary:
        return cls(name=pipeline.name, kind=pipeline.kind, title=shown.title, doc=shown.doc, tags=shown.tags,
                   version=shown.version, state=shown.state, official=pipeline.official,
                   withdrawn=pipeline.withdrawn_at is not None, owner=pipeline.owner.name,
                   team=pipeline.team.name if pipeline.team else None, updated_at=pipeline.updated_at)


class PipelineOut(PipelineSummary):
    versions: list[PipelineVersionSummary]


class _ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, description="Catalogue name (default: the CWL id, or the file name).")
    version: str | None = Field(None, description="Version (default: datalabs-pipeline.yml's, else 1.0).")
    team: str | None = Field(None, description="Share the pipeline with this team of yours.")
    tags: list[str] = Field(default_factory=list, description="Tags (default: the document's s:keywords).")
    official: bool = Field(False, description="A system pipeline (admins only).")


class PipelineGitImport(_ImportOptions):
    git: str = Field(description="An https:// git URL (admins may also give a path or file:// URL on the server).")
    ref: str | None = Field(None, description="Branch or tag (default: the default branch).")
    main: str | None = Field(None, description="The main CWL file in the repository (default: see the docs).")


class PipelineTextImport(_ImportOptions):
    text: str = Field(description="The CWL document (YAML or JSON).")
    filename: str = Field("pipeline.cwl", description="Its file name, used in messages.")


class PipelineChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    official: bool | None = Field(None, description="Admins only.")
    withdrawn: bool | None = Field(None, description="Moderators or the pipeline's developers.")


class PipelineRejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str
