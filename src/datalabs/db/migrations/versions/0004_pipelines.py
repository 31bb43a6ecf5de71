"""Pipelines: CWL steps and workflows in the catalogue, their runs, jobs and events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from datalabs.db.base import UTCDateTime


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("pipelines",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("owner_id", sa.Integer(), nullable=False),
    sa.Column("team_id", sa.Integer(), nullable=True),
    sa.Column("official", sa.Boolean(), nullable=False),
    sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_pipelines_owner_id_users"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_pipelines_team_id_teams"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    sa.UniqueConstraint("name", name=op.f("uq_pipelines_name"))
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipelines_owner_id"), ["owner_id"], unique=False)

    op.create_table("pipeline_versions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("pipeline_id", sa.Integer(), nullable=False),
    sa.Column("version", sa.String(length=64), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("title", sa.String(length=300), nullable=False),
    sa.Column("doc", sa.Text(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("cwl_class", sa.String(length=32), nullable=False),
    sa.Column("cwl_version", sa.String(length=16), nullable=False),
    sa.Column("main_file", sa.String(length=300), nullable=False),
    sa.Column("source_text", sa.Text(), nullable=False),
    sa.Column("packed", sa.JSON(), nullable=False),
    sa.Column("inputs", sa.JSON(), nullable=False),
    sa.Column("outputs", sa.JSON(), nullable=False),
    sa.Column("graph", sa.JSON(), nullable=False),
    sa.Column("uses", sa.JSON(), nullable=False),
    sa.Column("environments", sa.JSON(), nullable=False),
    sa.Column("source", sa.String(length=2000), nullable=False),
    sa.Column("source_kind", sa.String(length=16), nullable=False),
    sa.Column("rejection_reason", sa.Text(), nullable=False),
    sa.Column("reviewed_by", sa.String(length=32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("submitted_at", UTCDateTime(), nullable=True),
    sa.Column("published_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["pipeline_id"], ["pipelines.id"], name=op.f("fk_pipeline_versions_pipeline_id_pipelines"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_versions")),
    sa.UniqueConstraint("pipeline_id", "version", name="uq_pipeline_versions_pipeline_id")
    )
    with op.batch_alter_table("pipeline_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_versions_pipeline_id"), ["pipeline_id"], unique=False)

    op.create_table("pipeline_runs",
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=False),
    sa.Column("version_id", sa.Integer(), nullable=True),
    sa.Column("pipeline_name", sa.String(length=64), nullable=False),
    sa.Column("pipeline_version", sa.String(length=64), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("inputs", sa.JSON(), nullable=False),
    sa.Column("outputs", sa.JSON(), nullable=False),
    sa.Column("output_workspace", sa.String(length=100), nullable=False),
    sa.Column("output_path", sa.String(length=1000), nullable=False),
    sa.Column("cpu", sa.Float(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("backend_state", sa.JSON(), nullable=False),
    sa.Column("events_offset", sa.Integer(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("step_totals", sa.JSON(), nullable=False),
    sa.Column("jobs_done", sa.Integer(), nullable=False),
    sa.Column("jobs_failed", sa.Integer(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_pipeline_runs_user_id_users"), ondelete="RESTRICT"),
    sa.ForeignKeyConstraint(["version_id"], ["pipeline_versions.id"], name=op.f("fk_pipeline_runs_version_id_pipeline_versions"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs"))
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_runs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_pipeline_runs_user_id"), ["user_id"], unique=False)

    op.create_table("pipeline_jobs",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.String(length=32), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("step", sa.String(length=200), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("exit_code", sa.Integer(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("log_path", sa.String(length=4096), nullable=False),
    sa.Column("outputs", sa.JSON(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["run_id"], ["pipeline_runs.id"], name=op.f("fk_pipeline_jobs_run_id_pipeline_runs"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_jobs")),
    sa.UniqueConstraint("run_id", "name", name="uq_pipeline_jobs_run_id")
    )
    with op.batch_alter_table("pipeline_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_jobs_run_id"), ["run_id"], unique=False)

    op.create_table("pipeline_run_events",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.String(length=32), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(["run_id"], ["pipeline_runs.id"], name=op.f("fk_pipeline_run_events_run_id_pipeline_runs"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_run_events"))
    )
    with op.batch_alter_table("pipeline_run_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pipeline_run_events_run_id"), ["run_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("pipeline_run_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_run_events_run_id"))

    op.drop_table("pipeline_run_events")
    with op.batch_alter_table("pipeline_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_jobs_run_id"))

    op.drop_table("pipeline_jobs")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_user_id"))
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_state"))

    op.drop_table("pipeline_runs")
    with op.batch_alter_table("pipeline_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_versions_pipeline_id"))

    op.drop_table("pipeline_versions")
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipelines_owner_id"))

    op.drop_table("pipelines")
