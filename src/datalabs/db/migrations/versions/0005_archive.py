"""Archive metadata (products with every label attribute, label problems, attribute catalogue, scans,
indexes on demand, mapped tables) and TAP asynchronous jobs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from datalabs.db.base import UTCDateTime

# PostgreSQL: a JSON number as a double (NULL for anything else), immutable so that indexes made on demand
# on one attribute can use it; SQLite's json_extract() already returns typed values.
NUMBER_FUNCTION = """
CREATE FUNCTION datalabs_num(value jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN (value #>> '{}')::double precision END $$
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("archive_indexes",
    sa.Column("attribute", sa.String(length=600), nullable=False),
    sa.Column("index_name", sa.String(length=63), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("attribute", name=op.f("pk_archive_indexes")),
    sa.UniqueConstraint("index_name", name=op.f("uq_archive_indexes_index_name"))
    )
    op.create_table("archive_tables",
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("description", sa.String(length=2000), nullable=False),
    sa.Column("mapping", sa.Text(), nullable=False),
    sa.Column("spec", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("name", name=op.f("pk_archive_tables"))
    )
    op.create_table("archive_attributes",
    sa.Column("dataset_id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=600), nullable=False),
    sa.Column("datatype", sa.String(length=16), nullable=False),
    sa.Column("unit", sa.String(length=100), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_archive_attributes_dataset_id_datasets"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("dataset_id", "name", name=op.f("pk_archive_attributes"))
    )
    op.create_table("archive_label_problems",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dataset_id", sa.Integer(), nullable=False),
    sa.Column("path", sa.String(length=4096), nullable=False),
    sa.Column("reason", sa.String(length=2000), nullable=False),
    sa.Column("line", sa.Integer(), nullable=True),
    sa.Column("column", sa.Integer(), nullable=True),
    sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("scanned_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_archive_label_problems_dataset_id_datasets"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_label_problems")),
    sa.UniqueConstraint("dataset_id", "path", name=op.f("uq_archive_label_problems_dataset_id"))
    )
    with op.batch_alter_table("archive_label_problems", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_label_problems_dataset_id"), ["dataset_id"], unique=False)

    op.create_table("archive_products",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dataset_id", sa.Integer(), nullable=False),
    sa.Column("label_path", sa.String(length=4096), nullable=False),
    sa.Column("label_format", sa.String(length=8), nullable=False),
    sa.Column("identifier", sa.String(length=600), nullable=False),
    sa.Column("data_set", sa.String(length=600), nullable=False),
    sa.Column("mission", sa.String(length=300), nullable=False),
    sa.Column("instrument", sa.String(length=300), nullable=False),
    sa.Column("target", sa.String(length=300), nullable=False),
    sa.Column("start_time", sa.String(length=40), nullable=True),
    sa.Column("stop_time", sa.String(length=40), nullable=True),
    sa.Column("processing_level", sa.String(length=100), nullable=False),
    sa.Column("product_class", sa.String(length=100), nullable=False),
    sa.Column("files", sa.JSON(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("datalabs_path", sa.String(length=4200), nullable=False),
    sa.Column("attributes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
    sa.Column("units", sa.JSON(), nullable=False),
    sa.Column("label_mtime_ns", sa.BigInteger(), nullable=False),
    sa.Column("label_size", sa.BigInteger(), nullable=False),
    sa.Column("scanned_at", UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_archive_products_dataset_id_datasets"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_products")),
    sa.UniqueConstraint("dataset_id", "label_path", name=op.f("uq_archive_products_dataset_id"))
    )
    with op.batch_alter_table("archive_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_products_data_set"), ["data_set"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_products_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_products_identifier"), ["identifier"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_products_instrument"), ["instrument"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_products_mission"), ["mission"], unique=False)
        batch_op.create_index("ix_archive_products_start_time", ["start_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_products_target"), ["target"], unique=False)

    op.create_table("archive_scans",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("dataset_id", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("started_by_id", sa.Integer(), nullable=True),
    sa.Column("files_total", sa.Integer(), nullable=False),
    sa.Column("files_done", sa.Integer(), nullable=False),
    sa.Column("indexed", sa.Integer(), nullable=False),
    sa.Column("unchanged", sa.Integer(), nullable=False),
    sa.Column("problems", sa.Integer(), nullable=False),
    sa.Column("removed", sa.Integer(), nullable=False),
    sa.Column("error", sa.String(length=2000), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name=op.f("fk_archive_scans_dataset_id_datasets"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["started_by_id"], ["users.id"], name=op.f("fk_archive_scans_started_by_id_users"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_scans"))
    )
    with op.batch_alter_table("archive_scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_scans_dataset_id"), ["dataset_id"], unique=False)

    op.create_table("tap_jobs",
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("owner_id", sa.Integer(), nullable=True),
    sa.Column("run_id", sa.String(length=200), nullable=False),
    sa.Column("phase", sa.String(length=16), nullable=False),
    sa.Column("parameters", sa.JSON(), nullable=False),
    sa.Column("query", sa.Text(), nullable=False),
    sa.Column("execution_duration", sa.Integer(), nullable=False),
    sa.Column("destruction", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("result_rows", sa.Integer(), nullable=True),
    sa.Column("overflow", sa.Boolean(), nullable=False),
    sa.Column("result_format", sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_tap_jobs_owner_id_users"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_tap_jobs"))
    )
    with op.batch_alter_table("tap_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tap_jobs_owner_id"), ["owner_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NUMBER_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS datalabs_num(jsonb)")
    with op.batch_alter_table("tap_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tap_jobs_owner_id"))

    op.drop_table("tap_jobs")
    with op.batch_alter_table("archive_scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_scans_dataset_id"))

    op.drop_table("archive_scans")
    with op.batch_alter_table("archive_products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_products_target"))
        batch_op.drop_index("ix_archive_products_start_time")
        batch_op.drop_index(batch_op.f("ix_archive_products_mission"))
        batch_op.drop_index(batch_op.f("ix_archive_products_instrument"))
        batch_op.drop_index(batch_op.f("ix_archive_products_identifier"))
        batch_op.drop_index(batch_op.f("ix_archive_products_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_archive_products_data_set"))

    op.drop_table("archive_products")
    with op.batch_alter_table("archive_label_problems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_label_problems_dataset_id"))

    op.drop_table("archive_label_problems")
    op.drop_table("archive_attributes")
    op.drop_table("archive_tables")
    op.drop_table("archive_indexes")
