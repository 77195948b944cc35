"""SQLAlchemy/GeoAlchemy2 table definitions built from layer specs (PostGIS DDL)."""

from __future__ import annotations

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from layers.spec import Field, LayerSpec

_SA_TYPES: dict[str, type[sa.types.TypeEngine]] = {
    "text": sa.Text,
    "integer": sa.Integer,
    "float": sa.Double,
    "boolean": sa.Boolean,
    "date": sa.Date,
}


def _sa_type(f: Field) -> sa.types.TypeEngine:
    if f.type == "datetime":
        return sa.DateTime(timezone=True)
    return _SA_TYPES[f.type]()


def layer_table(spec: LayerSpec, table_name: str) -> sa.Table:
    """The layer's table: fid identity, spec fields, ext_id, geom. The loader adds the keys
    after the bulk COPY (primary key on fid, partial unique index on ext_id for upserts)."""
    return sa.Table(
        table_name,
        sa.MetaData(),
        sa.Column("fid", sa.BigInteger, sa.Identity(), primary_key=True),
        *(sa.Column(f.name, _sa_type(f), nullable=True) for f in spec.fields),
        sa.Column("ext_id", sa.Text),
        sa.Column(
            "geom",
            Geometry(spec.geometry_type.upper(), srid=4326, spatial_index=False),
            nullable=False,
        ),
    )


def create_table_sql(spec: LayerSpec, table_name: str) -> str:
    return str(CreateTable(layer_table(spec, table_name)).compile(dialect=postgresql.dialect()))
