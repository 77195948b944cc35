"""SQL of the contingency-plan summary: an area and its direct children, and the hazard
types present. The per-class facility counts reuse gis.query.exposure with a family
selector; land shares are computed from the zones that touch the area (gis.analysis)."""

from __future__ import annotations

from gis.query.exposure import AreaSelector
from gis.query.sqlparts import Dialect, Sql


def family(code: str) -> AreaSelector:
    """The area with this code and its direct children (parent_code = code)."""
    return AreaSelector(family=code)


def hazard_types_sql(dialect: Dialect) -> Sql:
    """The hazard types present in the hazard zones layer, sorted."""
    return Sql(dialect).add("SELECT DISTINCT hazard_type FROM hazard_zones ORDER BY hazard_type")
