"""Every reject reason, type conversion, reprojection and repair of gis.ingest.clean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from gis.errors import InvalidInput
from gis.ingest.clean import REASONS, Cleaner, CleanOptions
from gis.ingest.source import Chunk
from layers import get_layer

WGS84 = pyproj.CRS.from_epsg(4326)


def chunk(rows: list[dict], geoms: list, offset: int = 0) -> Chunk:
    return Chunk(offset, pd.DataFrame(rows), np.array(geoms, dtype=object))


def facility(**over: object) -> dict:
    row = {"name": "Posko A", "facility_type": "shelter", "capacity": "120", "is_open": "ya"}
    row.update(over)
    return row


def clean_one(layer: str, row: dict, geom: object, **opts: object):
    options = CleanOptions(source_crs=opts.pop("crs", WGS84), **opts)  # type: ignore[arg-type]
    return Cleaner(get_layer(layer), options).clean(chunk([row], [geom]))


def reason_of(result) -> str | None:
    return None if result.rejects.empty else result.rejects["reason"].iloc[0]


P = Point(110.42, -6.97)


@pytest.mark.parametrize(
    ("row", "geom", "reason", "field"),
    [
        (facility(), None, "missing_geometry", None),
        (facility(), Point(), "empty_geometry", None),
        (facility(), Point(np.nan, -6.9), "coordinates_not_finite", None),
        (facility(), Point(np.inf, -6.9), "coordinates_not_finite", None),
        (facility(), Point(250.0, 95.0), "coordinates_out_of_range", None),
        (facility(), Point(-6.97, 110.42), "coordinates_swapped", None),
        (facility(), Point(2.35, 48.85), "outside_extent", None),
        (
            facility(),
            shapely.LineString([(110.4, -6.9), (110.5, -6.9)]),
            "wrong_geometry_type",
            None,
        ),
        (facility(name=""), P, "missing_required", "name"),
        (facility(name=None), P, "missing_required", "name"),
        (facility(capacity="lots"), P, "type_error", "capacity"),
        (facility(capacity="2.5"), P, "type_error", "capacity"),
        (facility(is_open="maybe"), P, "type_error", "is_open"),
        (facility(facility_type="mall"), P, "enum_violation", "facility_type"),
        (facility(capacity="-1"), P, "range_violation", "capacity"),
        (facility(name="x" * 201), P, "too_long", "name"),
    ],
)
def test_each_reject_reason(row: dict, geom: object, reason: str, field: str | None) -> None:
    result = clean_one("facilities", row, geom)
    assert reason in REASONS
    assert len(result.rows) == 0
    rej = result.rejects.iloc[0]
    assert rej["reason"] == reason
    assert rej["field"] == field
    assert rej["feature_index"] == 0
    assert isinstance(rej["detail"], str) and rej["detail"]


def test_invalid_geometry_rejected_under_reject_policy() -> None:
    bowtie = Polygon([(110.40, -6.90), (110.42, -6.92), (110.42, -6.90), (110.40, -6.92)])
    row = {"hazard_type": "flood", "hazard_class": "high"}
    result = clean_one("hazard_zones", row, bowtie, invalid="reject")
    assert reason_of(result) == "invalid_geometry"
    assert "Self-intersection" in result.rejects["detail"].iloc[0]


def test_invalid_geometry_repaired_by_default() -> None:
    bowtie = Polygon([(110.40, -6.90), (110.42, -6.92), (110.42, -6.90), (110.40, -6.92)])
    row = {"hazard_type": "flood", "hazard_class": "high"}
    result = clean_one("hazard_zones", row, bowtie)
    assert result.rejects.empty and result.repaired == 1
    geom = result.geometry[0]
    assert geom.geom_type == "MultiPolygon" and geom.is_valid
    assert geom.area == pytest.approx(0.0002, rel=1e-9)  # two triangles of 0.0001 deg²


def test_id_rules_missing_and_duplicate_across_chunks() -> None:
    cleaner = Cleaner(get_layer("facilities"), CleanOptions(source_crs=WGS84, id_field="kode"))
    first = cleaner.clean(chunk([facility(kode="A1"), facility(kode="")], [P, P]))
    second = cleaner.clean(chunk([facility(kode="A1"), facility(kode="B2")], [P, P], offset=2))
    assert first.rejects[["feature_index", "reason"]].values.tolist() == [[1, "missing_id"]]
    assert second.rejects[["feature_index", "reason"]].values.tolist() == [[2, "duplicate_id"]]
    assert second.rows["ext_id"].tolist() == ["B2"]


def test_first_failure_names_the_reason_and_offsets_are_source_indexes() -> None:
    # facility_type comes before capacity in the spec, so its rule names the reason.
    rows = [facility(), facility(facility_type="mall", capacity="x"), facility()]
    result = Cleaner(get_layer("facilities"), CleanOptions(source_crs=WGS84)).clean(
        chunk(rows, [P, P, None], offset=1000)
    )
    assert result.rejects[["feature_index", "reason"]].values.tolist() == [
        [1001, "enum_violation"],
        [1002, "missing_geometry"],
    ]
    assert len(result.rows) == 1


def test_types_are_converted() -> None:
    rows = [
        {"depth_cm": "35", "observed_at": "2026-01-15T08:30:00+07:00", "status": "Verified"},
        {"depth_cm": 12.0, "observed_at": "2026-01-15 08:30", "status": "reported"},
    ]
    result = Cleaner(get_layer("flood_points"), CleanOptions(source_crs=WGS84)).clean(
        chunk(rows, [P, P])
    )
    assert result.rejects.empty
    assert result.rows["depth_cm"].tolist() == [35, 12]
    assert result.rows["status"].tolist() == ["verified", "reported"]
    # Both say 08:30 in WIB (UTC+7): the naive one is read in the default zone.
    assert [t.isoformat() for t in result.rows["observed_at"]] == ["2026-01-15T01:30:00+00:00"] * 2


def test_boolean_words_in_both_languages() -> None:
    rows = [facility(is_open=v) for v in ("ya", "Tidak", "true", "0", None)]
    result = Cleaner(get_layer("facilities"), CleanOptions(source_crs=WGS84)).clean(
        chunk(rows, [P] * 5)
    )
    assert result.rows["is_open"].tolist() == [True, False, True, False, pd.NA]


def test_reprojection_from_utm_matches_pyproj() -> None:
    utm = pyproj.CRS.from_epsg(32749)
    to_utm = pyproj.Transformer.from_crs(WGS84, utm, always_xy=True)
    x, y = to_utm.transform(110.42, -6.97)
    result = clean_one("facilities", facility(), Point(x, y), crs=utm)
    assert result.rejects.empty
    lon, lat = result.geometry[0].x, result.geometry[0].y
    assert lon == pytest.approx(110.42, abs=1e-9) and lat == pytest.approx(-6.97, abs=1e-9)


def test_projected_coordinates_without_a_crs_are_out_of_range() -> None:
    result = clean_one("facilities", facility(), Point(434000.0, 9229000.0))
    assert reason_of(result) == "coordinates_out_of_range"


def test_single_parts_are_promoted_and_rings_oriented() -> None:
    clockwise = Polygon([(110.40, -6.90), (110.41, -6.90), (110.41, -6.91), (110.40, -6.91)])
    row = {"hazard_type": "flood", "hazard_class": "low"}
    result = clean_one("hazard_zones", row, clockwise)
    geom = result.geometry[0]
    assert isinstance(geom, MultiPolygon)
    assert shapely.is_ccw(geom.geoms[0].exterior)


def test_field_map_and_set_values() -> None:
    options = CleanOptions(
        source_crs=WGS84, field_map={"NAMA": "name"}, set_values={"source": "BPBD 2026"}
    )
    rows = [{"NAMA": "RSUD Kota", "facility_type": "hospital"}]
    result = Cleaner(get_layer("facilities"), options).clean(chunk(rows, [P]))
    assert result.rows[["name", "source"]].values.tolist() == [["RSUD Kota", "BPBD 2026"]]


def test_bad_options_are_refused_up_front() -> None:
    with pytest.raises(InvalidInput, match="not a field of facilities"):
        Cleaner(get_layer("facilities"), CleanOptions(source_crs=WGS84, set_values={"x": "1"}))
    with pytest.raises(InvalidInput, match="--field-map target"):
        Cleaner(get_layer("facilities"), CleanOptions(source_crs=WGS84, field_map={"a": "b"}))


def test_a_bad_timestamp_among_good_ones_rejects_only_that_feature() -> None:
    rows = [
        {"observed_at": "2026-01-15T08:30:00+07:00", "status": "verified"},
        {"observed_at": "kemarin sore", "status": "verified"},
        {"observed_at": "2026-01-16T08:30:00Z", "status": "verified"},
    ]
    result = Cleaner(get_layer("flood_points"), CleanOptions(source_crs=WGS84)).clean(
        chunk(rows, [P, P, P])
    )
    assert result.rejects[["feature_index", "reason", "field"]].values.tolist() == [
        [1, "type_error", "observed_at"]
    ]
    assert [t.isoformat() for t in result.rows["observed_at"]] == [
        "2026-01-15T01:30:00+00:00",
        "2026-01-16T08:30:00+00:00",
    ]
