"""Catalogue: datalabs, their versions, Python environments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from datalabs.db.base import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("python_version", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
        sa.Column("log_path", sa.String(4096), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_environments"),
    )
    op.create_table(
        "datalabs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="RESTRICT", name="fk_datalabs_owner_id_users"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="SET NULL", name="fk_datalabs_team_id_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_datalabs"),
        sa.UniqueConstraint("name", name="uq_datalabs_name"),
    )
    op.create_index("ix_datalabs_owner_id", "datalabs", ["owner_id"])
    op.create_table(
        "datalab_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("datalab_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("license", sa.String(200), nullable=False),
        sa.Column("mission", sa.String(200), nullable=False),
        sa.Column("instrument", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("runtime", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("package_path", sa.String(4096), nullable=False),
        sa.Column("environment_id", sa.String(64), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.String(32), nullable=False),
        sa.Column("platform_version", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["datalab_id"], ["datalabs.id"], ondelete="CASCADE",
                                name="fk_datalab_versions_datalab_id_datalabs"),
        sa.ForeignKeyConstraint(["environment_id"], ["environments.id"], ondelete="SET NULL",
                                name="fk_datalab_versions_environment_id_environments"),
        sa.PrimaryKeyConstraint("id", name="pk_datalab_versions"),
        sa.UniqueConstraint("datalab_id", "version", name="uq_datalab_versions_datalab_id"),
    )
    op.create_index("ix_datalab_versions_datalab_id", "datalab_versions", ["datalab_id"])


def downgrade() -> None:
    op.drop_table("datalab_versions")
    op.drop_table("datalabs")
    op.drop_table("environments")
