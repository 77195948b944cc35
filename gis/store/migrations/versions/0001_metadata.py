"""Metadata tables: layers (version, counts, notice), ingest runs, stored rasters.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gis_layer",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("feature_count", sa.BigInteger, nullable=False),
        sa.Column("minx", sa.Double),
        sa.Column("miny", sa.Double),
        sa.Column("maxx", sa.Double),
        sa.Column("maxy", sa.Double),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("notice_id", sa.Text),
        sa.Column("notice_en", sa.Text),
        sa.Column("last_run_id", sa.Text),
    )
    op.create_table(
        "gis_ingest_run",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("layer", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("source_sha256", sa.Text, nullable=False),
        sa.Column("source_format", sa.Text, nullable=False),
        sa.Column("source_bytes", sa.BigInteger, nullable=False),
        sa.Column("run_by", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.Text),
        sa.Column("features_read", sa.BigInteger, nullable=False),
        sa.Column("features_loaded", sa.BigInteger, nullable=False),
        sa.Column("features_rejected", sa.BigInteger, nullable=False),
        sa.Column("features_repaired", sa.BigInteger, nullable=False),
        sa.Column("reject_report", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("version", sa.Integer),
    )
    op.create_index("gis_ingest_run_layer_idx", "gis_ingest_run", ["layer", "started_at"])
    op.create_table(
        "gis_raster",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("crs_wkt", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("band_count", sa.Integer, nullable=False),
        sa.Column("dtype", sa.Text, nullable=False),
        sa.Column("nodata", sa.Double),
        sa.Column("minx", sa.Double, nullable=False),
        sa.Column("miny", sa.Double, nullable=False),
        sa.Column("maxx", sa.Double, nullable=False),
        sa.Column("maxy", sa.Double, nullable=False),
        sa.Column("res_x", sa.Double, nullable=False),
        sa.Column("res_y", sa.Double, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("notice_id", sa.Text),
        sa.Column("notice_en", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("gis_raster")
    op.drop_index("gis_ingest_run_layer_idx", table_name="gis_ingest_run")
    op.drop_table("gis_ingest_run")
    op.drop_table("gis_layer")
