"""Discovery index: assets with their description, facet values, readers; the text index (FTS5 on SQLite,
a weighted tsvector with a GIN index on PostgreSQL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from datalabs.db.base import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# porter stemming (as PostgreSQL's 'english'), accents folded, prefix indexes for "typing as you go" queries
FTS5_TABLE = """
CREATE VIRTUAL TABLE discovery_fts USING fts5(
    title, alternate_name, keywords, abstract, context, description,
    tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3'
)
"""


def upgrade() -> None:
    op.create_table("discovery_assets",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("key", sa.String(length=700), nullable=False),
    sa.Column("source_key", sa.String(length=64), nullable=False),
    sa.Column("asset_type", sa.String(length=16), nullable=False),
    sa.Column("name", sa.String(length=600), nullable=False),
    sa.Column("title", sa.String(length=600), nullable=False),
    sa.Column("sort_title", sa.String(length=200), nullable=False),
    sa.Column("alternate_name", sa.String(length=600), nullable=False),
    sa.Column("abstract", sa.Text(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("keywords", sa.JSON(), nullable=False),
    sa.Column("creator", sa.String(length=600), nullable=False),
    sa.Column("citation", sa.Text(), nullable=False),
    sa.Column("license", sa.String(length=300), nullable=False),
    sa.Column("audience", sa.JSON(), nullable=False),
    sa.Column("facets", sa.JSON(), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("url", sa.String(length=1000), nullable=False),
    sa.Column("date_created", UTCDateTime(), nullable=True),
    sa.Column("date_modified", UTCDateTime(), nullable=True),
    sa.Column("open_from", sa.Date(), nullable=True),
    sa.Column("search_vector", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=True),
    sa.Column("indexed_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_assets")),
    sa.UniqueConstraint("key", name=op.f("uq_discovery_assets_key"))
    )
    op.create_index(op.f("ix_discovery_assets_asset_type"), "discovery_assets", ["asset_type"], unique=False)
    op.create_index(op.f("ix_discovery_assets_source_key"), "discovery_assets", ["source_key"], unique=False)
    op.create_index("ix_discovery_assets_sort_title", "discovery_assets", ["sort_title", "id"], unique=False)
    op.create_index(op.f("ix_discovery_assets_date_created"), "discovery_assets", ["date_created"], unique=False)
    op.create_index(op.f("ix_discovery_assets_date_modified"), "discovery_assets", ["date_modified"], unique=False)
    op.create_index("ix_discovery_assets_open_from", "discovery_assets", ["open_from"], unique=False)
    op.create_index("ix_discovery_assets_search_vector", "discovery_assets", ["search_vector"], unique=False,
                    postgresql_using="gin")
    op.create_table("discovery_facet_values",
    sa.Column("asset_id", sa.Integer(), nullable=False),
    sa.Column("facet", sa.String(length=32), nullable=False),
    sa.Column("value", sa.String(length=300), nullable=False),
    sa.Column("folded", sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(["asset_id"], ["discovery_assets.id"],
                            name=op.f("fk_discovery_facet_values_asset_id_discovery_assets"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("asset_id", "facet", "value", name=op.f("pk_discovery_facet_values"))
    )
    op.create_index("ix_discovery_facet_values_lookup", "discovery_facet_values", ["facet", "value", "asset_id"],
                    unique=False)
    op.create_index("ix_discovery_facet_values_folded", "discovery_facet_values", ["folded", "facet"], unique=False)
    op.create_table("discovery_readers",
    sa.Column("asset_id", sa.Integer(), nullable=False),
    sa.Column("principal", sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(["asset_id"], ["discovery_assets.id"],
                            name=op.f("fk_discovery_readers_asset_id_discovery_assets"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("asset_id", "principal", name=op.f("pk_discovery_readers"))
    )
    op.create_index("ix_discovery_readers_principal", "discovery_readers", ["principal", "asset_id"], unique=False)
    op.create_table("discovery_state",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("token", sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_state"))
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(FTS5_TABLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE discovery_fts")
    op.drop_table("discovery_state")
    op.drop_index("ix_discovery_readers_principal", table_name="discovery_readers")
    op.drop_table("discovery_readers")
    op.drop_index("ix_discovery_facet_values_folded", table_name="discovery_facet_values")
    op.drop_index("ix_discovery_facet_values_lookup", table_name="discovery_facet_values")
    op.drop_table("discovery_facet_values")
    for name in ("ix_discovery_assets_search_vector", "ix_discovery_assets_open_from",
                 op.f("ix_discovery_assets_date_modified"), op.f("ix_discovery_assets_date_created"),
                 "ix_discovery_assets_sort_title", op.f("ix_discovery_assets_source_key"),
                 op.f("ix_discovery_assets_asset_type")):
        op.drop_index(name, table_name="discovery_assets")
    op.drop_table("discovery_assets")
