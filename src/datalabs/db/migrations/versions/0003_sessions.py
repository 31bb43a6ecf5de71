"""Sessions: launched datalabs and their events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from datalabs.db.base import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lab_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("datalab_name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cpu", sa.Float(), nullable=False),
        sa.Column("memory", sa.BigInteger(), nullable=False),
        sa.Column("volumes", sa.JSON(), nullable=False),
        sa.Column("team_workspaces", sa.JSON(), nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("backend_state", sa.JSON(), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("reported", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("last_activity_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="RESTRICT", name="fk_lab_sessions_user_id_users"),
        sa.ForeignKeyConstraint(["version_id"], ["datalab_versions.id"], ondelete="SET NULL",
                                name="fk_lab_sessions_version_id_datalab_versions"),
        sa.PrimaryKeyConstraint("id", name="pk_lab_sessions"),
    )
    op.create_index("ix_lab_sessions_user_id", "lab_sessions", ["user_id"])
    op.create_index("ix_lab_sessions_state", "lab_sessions", ["state"])
    op.create_table(
        "lab_session_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["lab_sessions.id"], ondelete="CASCADE",
                                name="fk_lab_session_events_session_id_lab_sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_lab_session_events"),
    )
    op.create_index("ix_lab_session_events_session_id", "lab_session_events", ["session_id"])


def downgrade() -> None:
    op.drop_table("lab_session_events")
    op.drop_table("lab_sessions")
