"""Turn source chunks into rows that fit a layer spec, and say why the rest do not.

Everything here is vectorised over a chunk (numpy, pandas, shapely 2): a per-feature
Python loop would make a million-point ingest slow. The first failing rule names a
feature's reject reason; the reasons are stable codes (see REASONS) used in the reject
report and in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from gis.crs import in_extent, in_range, to_storage_transformer
from gis.errors import InvalidInput
from gis.ingest.source import Chunk
from layers.spec import Field, LayerSpec

InvalidPolicy = Literal["repair", "reject"]

#: Every reject reason, with the text the summary shows.
REASONS: dict[str, str] = {
    "missing_geometry": "feature has no geometry",
    "empty_geometry": "geometry is empty",
    "coordinates_not_finite": "coordinates are NaN or infinite",
    "coordinates_out_of_range": "coordinates outside lon -180..180 / lat -90..90",
    "coordinates_swapped": "coordinates look swapped (lat, lon instead of lon, lat)",
    "outside_extent": "coordinates outside the service extent",
    "wrong_geometry_type": "geometry type does not match the layer",
    "invalid_geometry": "geometry is invalid",
    "missing_required": "a required field is empty",
    "type_error": "value does not have the field's type",
    "enum_violation": "value is not one of the allowed values",
    "range_violation": "value is outside the allowed range",
    "too_long": "text is longer than allowed",
    "missing_id": "the --id-field value is empty",
    "duplicate_id": "the --id-field value repeats an earlier feature",
}

_TRUE = {"true", "t", "1", "yes", "y", "ya", "benar"}
_FALSE = {"false", "f", "0", "no", "n", "tidak", "salah"}


@dataclass(frozen=True)
class CleanOptions:
    """How to map a source onto a layer; built once per ingest from the CLI flags."""

    source_crs: pyproj.CRS | None
    field_map: dict[str, str] = field(default_factory=dict)
    set_values: dict[str, str] = field(default_factory=dict)
    id_field: str | None = None
    invalid: InvalidPolicy = "repair"
    extent: tuple[float, float, float, float] = (92.0, -13.0, 143.0, 8.0)
    #: Time zone given to datetimes written without one (agencies mostly write WIB).
    default_tz: str = "Asia/Jakarta"


@dataclass
class CleanChunk:
    """The accepted rows of a chunk (spec columns + ext_id, geometry in EPSG:4326) and
    the rejects (source index, reason, field, detail)."""

    rows: pd.DataFrame
    geometry: np.ndarray
    rejects: pd.DataFrame
    repaired: int = 0


class _Verdicts:
    """First-failure-wins reasons per feature of one chunk."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)
        self.field = np.full(n, None, dtype=object)
        self.detail = np.full(n, None, dtype=object)

    def mark(
        self,
        mask: np.ndarray,
        reason: str,
        field_name: str | None = None,
        detail: Callable[[np.ndarray], list[str]] | None = None,
    ) -> None:
        new = np.asarray(mask, dtype=bool) & (self.reason == None)  # noqa: E711
        if not new.any():
            return
        idx = np.flatnonzero(new)
        self.reason[idx] = reason
        self.field[idx] = field_name
        self.detail[idx] = detail(idx) if detail else REASONS[reason]

    @property
    def ok(self) -> np.ndarray:
        return self.reason == None  # noqa: E711


class Cleaner:
    """Validates chunks against one layer spec; holds state that spans chunks (ids seen)."""

    def __init__(self, spec: LayerSpec, options: CleanOptions) -> None:
        self.spec = spec
        self.options = options
        self._check_options()
        self._transformer = (
            to_storage_transformer(options.source_crs) if options.source_crs else None
        )
        self._geographic = options.source_crs is None or options.source_crs.is_geographic
        self._seen_ids: set[str] = set()

    def _check_options(self) -> None:
        known = set(self.spec.field_names)
        for target in self.options.field_map.values():
            if target not in known:
                raise InvalidInput(
                    f"--field-map target {target!r} is not a field of {self.spec.name}; "
                    f"fields: {', '.join(self.spec.field_names)}"
                )
        for name in self.options.set_values:
            if name not in known:
                raise InvalidInput(
                    f"--set field {name!r} is not a field of {self.spec.name}; "
                    f"fields: {', '.join(self.spec.field_names)}"
                )

    def clean(self, chunk: Chunk) -> CleanChunk:
        n = len(chunk)
        verdicts = _Verdicts(n)
        geoms, repaired = self._clean_geometry(chunk.geometry, verdicts)
        attrs = self._source_columns(chunk.attributes)
        columns = {f.name: self._typed(f, attrs.get(f.name), verdicts, n) for f in self.spec.fields}
        columns["ext_id"] = self._ext_id(attrs, verdicts, n)
        ok = verdicts.ok
        rows = pd.DataFrame({k: _take(v, ok) for k, v in columns.items()})
        rejected = ~ok
        rejects = pd.DataFrame(
            {
                "feature_index": chunk.offset + np.flatnonzero(rejected),
                "reason": verdicts.reason[rejected],
                "field": verdicts.field[rejected],
                "detail": verdicts.detail[rejected],
            }
        )
        return CleanChunk(rows=rows, geometry=geoms[ok], rejects=rejects, repaired=repaired)

    # -- attributes ----------------------------------------------------------------

    def _source_columns(self, attributes: pd.DataFrame) -> dict[str, pd.Series]:
        """Source columns renamed by --field-map, spec names matched case-insensitively,
        and --set constants applied."""
        by_lower = {str(c).lower(): c for c in attributes.columns}
        out: dict[str, pd.Series] = {}
        for src, target in self.options.field_map.items():
            col = by_lower.get(src.lower())
            if col is None:
                raise InvalidInput(
                    f"--field-map source column {src!r} is not in the file; columns: "
                    f"{', '.join(map(str, attributes.columns))}"
                )
            out[target] = attributes[col].reset_index(drop=True)
        for name in self.spec.field_names:
            if name not in out and name in by_lower:
                out[name] = attributes[by_lower[name]].reset_index(drop=True)
        for name, value in self.options.set_values.items():
            out[name] = pd.Series([value] * len(attributes), dtype=object)
        if self.options.id_field is not None and self.options.id_field.lower() in by_lower:
            out["__id__"] = attributes[by_lower[self.options.id_field.lower()]].reset_index(
                drop=True
            )
        return out

    def _typed(self, f: Field, raw: pd.Series | None, verdicts: _Verdicts, n: int) -> pd.Series:
        if raw is None:
            raw = pd.Series([None] * n, dtype=object)
        missing = _is_blank(raw)
        if f.required:
            verdicts.mark(
                missing, "missing_required", f.name, lambda i: [f"{f.name} is empty"] * len(i)
            )
        converter = _CONVERTERS[f.type]
        values, bad = converter(raw, missing, self.options)
        verdicts.mark(bad, "type_error", f.name, _detail(raw, f"not a valid {f.type} for {f.name}"))
        present = ~missing & ~bad
        if f.enum is not None:
            lowered = values.where(~present, values.astype("string").str.lower())
            outside = present & ~lowered.isin(f.enum).to_numpy(dtype=bool)
            allowed = ", ".join(f.enum)
            verdicts.mark(
                outside,
                "enum_violation",
                f.name,
                _detail(raw, f"{f.name} must be one of {allowed}"),
            )
            values = lowered
        if f.type == "text" and f.max_length is not None:
            long = present & (values.astype("string").str.len().fillna(0).to_numpy() > f.max_length)
            verdicts.mark(
                long,
                "too_long",
                f.name,
                lambda i: [f"{f.name} longer than {f.max_length} characters"] * len(i),
            )
        if f.minimum is not None or f.maximum is not None:
            num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            lo = -np.inf if f.minimum is None else f.minimum
            hi = np.inf if f.maximum is None else f.maximum
            with np.errstate(invalid="ignore"):
                out = present & ((num < lo) | (num > hi))
            verdicts.mark(
                out,
                "range_violation",
                f.name,
                _detail(raw, f"{f.name} must be between {f.minimum} and {f.maximum}"),
            )
        return values

    def _ext_id(self, attrs: dict[str, pd.Series], verdicts: _Verdicts, n: int) -> pd.Series:
        if self.options.id_field is None:
            return pd.Series([None] * n, dtype=object)
        raw = attrs.get("__id__")
        if raw is None:
            raise InvalidInput(f"--id-field {self.options.id_field!r} is not a column of the file")
        ids = raw.astype("string").str.strip()
        verdicts.mark(_is_blank(raw), "missing_id", self.options.id_field)
        dup_in_chunk = ids.duplicated(keep="first").to_numpy(dtype=bool)
        seen_before = ids.isin(self._seen_ids).to_numpy(dtype=bool)
        verdicts.mark(
            (dup_in_chunk | seen_before) & ~_is_blank(raw),
            "duplicate_id",
            self.options.id_field,
            _detail(raw, "id repeats an earlier feature"),
        )
        self._seen_ids.update(ids[verdicts.ok].dropna().tolist())
        return ids.astype(object).where(ids.notna(), None)

    # -- geometry ------------------------------------------------------------------

    def _clean_geometry(self, geoms: np.ndarray, verdicts: _Verdicts) -> tuple[np.ndarray, int]:
        geoms = np.asarray(geoms, dtype=object)
        verdicts.mark(shapely.is_missing(geoms), "missing_geometry")
        verdicts.mark(shapely.is_empty(geoms) & ~shapely.is_missing(geoms), "empty_geometry")
        if shapely.has_z(geoms).any():
            geoms = shapely.force_2d(geoms)
        bounds = shapely.bounds(geoms)
        finite = np.isfinite(bounds).all(axis=1)
        verdicts.mark(~finite & verdicts.ok, "coordinates_not_finite")
        if self._geographic:
            self._check_lonlat(bounds, verdicts)
        if self._transformer is not None:
            geoms = self._transform(geoms, verdicts)
            bounds = shapely.bounds(geoms)
        self._check_extent(bounds, verdicts)
        geoms = self._conform_type(geoms, verdicts)
        return self._validate(geoms, verdicts)

    def _check_lonlat(self, bounds: np.ndarray, verdicts: _Verdicts) -> None:
        minx, miny, maxx, maxy = bounds.T
        ok = in_range(minx, miny) & in_range(maxx, maxy)
        swapped = in_range(miny, minx) & in_range(maxy, maxx)
        pending = ~ok & verdicts.ok
        verdicts.mark(pending & swapped, "coordinates_swapped")
        verdicts.mark(pending, "coordinates_out_of_range")

    def _transform(self, geoms: np.ndarray, verdicts: _Verdicts) -> np.ndarray:
        assert self._transformer is not None
        transformer = self._transformer
        live = verdicts.ok
        out = geoms.copy()
        with np.errstate(invalid="ignore"):
            out[live] = shapely.transform(
                geoms[live], lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
            )
        b = shapely.bounds(out)
        bad = live & ~(
            np.isfinite(b).all(axis=1) & in_range(b[:, 0], b[:, 1]) & in_range(b[:, 2], b[:, 3])
        )
        verdicts.mark(
            bad,
            "coordinates_out_of_range",
            None,
            lambda i: ["coordinates fall outside the world after reprojection"] * len(i),
        )
        return out

    def _check_extent(self, bounds: np.ndarray, verdicts: _Verdicts) -> None:
        minx, miny, maxx, maxy = bounds.T
        ext = self.options.extent
        with np.errstate(invalid="ignore"):
            inside = in_extent(minx, miny, ext) & in_extent(maxx, maxy, ext)
            swapped = in_extent(miny, minx, ext) & in_extent(maxy, maxx, ext)
        pending = ~inside & verdicts.ok
        verdicts.mark(pending & swapped, "coordinates_swapped")
        verdicts.mark(
            pending,
            "outside_extent",
            None,
            lambda i: [f"outside the service extent {ext}"] * len(i),
        )

    def _conform_type(self, geoms: np.ndarray, verdicts: _Verdicts) -> np.ndarray:
        """Promote single parts to the layer's Multi type; refuse other types."""
        target = self.spec.geometry_type
        type_ids = shapely.get_type_id(geoms)
        live = verdicts.ok
        out = geoms.copy()
        if target == "Point":
            single_mp = (type_ids == 4) & (shapely.get_num_geometries(geoms) == 1)
            out[single_mp] = shapely.get_geometry(geoms[single_mp], 0)
            accepted = (type_ids == 0) | single_mp
        else:
            single, multi = (1, 5) if target == "MultiLineString" else (3, 6)
            is_single = type_ids == single
            if is_single.any():
                ctor = shapely.multilinestrings if single == 1 else shapely.multipolygons
                out[is_single] = [ctor([g]) for g in geoms[is_single]]
            accepted = is_single | (type_ids == multi)
        names = shapely.get_type_id(geoms)
        verdicts.mark(
            live & ~accepted,
            "wrong_geometry_type",
            None,
            lambda i: [
                f"{_TYPE_NAMES.get(int(names[j]), 'unknown')} where the layer needs {target}"
                for j in i
            ],
        )
        return out

    def _validate(self, geoms: np.ndarray, verdicts: _Verdicts) -> tuple[np.ndarray, int]:
        live = verdicts.ok
        valid = np.ones(len(geoms), dtype=bool)
        valid[live] = shapely.is_valid(geoms[live])
        invalid = live & ~valid
        if not invalid.any():
            return self._orient(geoms), 0
        if self.options.invalid == "reject":
            reasons = shapely.is_valid_reason(geoms[invalid])
            verdicts.mark(invalid, "invalid_geometry", None, lambda i: list(reasons))
            return self._orient(geoms), 0
        out = geoms.copy()
        fixed = _extract(shapely.make_valid(geoms[invalid]), self.spec.geometry_type)
        out[invalid] = fixed
        unfixable = np.zeros(len(geoms), dtype=bool)
        unfixable[invalid] = shapely.is_empty(fixed) | shapely.is_missing(fixed)
        verdicts.mark(
            unfixable,
            "invalid_geometry",
            None,
            lambda i: ["geometry is invalid and make_valid left nothing of its type"] * len(i),
        )
        return self._orient(out), int(invalid.sum() - unfixable.sum())

    def _orient(self, geoms: np.ndarray) -> np.ndarray:
        """Exterior rings counter-clockwise (RFC 7946 right-hand rule)."""
        if self.spec.geometry_type != "MultiPolygon":
            return geoms
        live = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        out = geoms.copy()
        out[live] = shapely.orient_polygons(geoms[live])
        return out


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def _extract(geoms: np.ndarray, target: str) -> np.ndarray:
    """The parts of make_valid's output that have the layer's dimension, as its Multi type."""
    want = {"Point": 0, "MultiLineString": 1, "MultiPolygon": 2}[target]
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        parts = [p for p in shapely.get_parts(g) if shapely.get_dimensions(p) == want]
        if not parts:
            out[i] = None
        elif target == "MultiPolygon":
            out[i] = shapely.multipolygons(shapely.get_parts(parts))
        elif target == "MultiLineString":
            out[i] = shapely.multilinestrings(shapely.get_parts(parts))
        else:
            out[i] = parts[0] if len(parts) == 1 else None
    return out


def _take(values: pd.Series, ok: np.ndarray) -> pd.Series:
    return values[ok].reset_index(drop=True)


def _is_blank(raw: pd.Series) -> np.ndarray:
    missing = raw.isna().to_numpy(dtype=bool, copy=True)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        stripped = raw.astype("string").str.strip()
        missing |= (stripped == "").fillna(True).to_numpy(dtype=bool)
    return missing


def _detail(raw: pd.Series, text: str) -> Callable[[np.ndarray], list[str]]:
    def build(idx: np.ndarray) -> list[str]:
        return [f"{text} (got {str(raw.iloc[i])[:80]!r})" for i in idx]

    return build


# -- type converters: (raw, missing, options) -> (typed values, bad mask) --------------

Converter = Callable[[pd.Series, np.ndarray, CleanOptions], tuple[pd.Series, np.ndarray]]


def _to_text(raw: pd.Series, missing: np.ndarray, _: CleanOptions) -> tuple[pd.Series, np.ndarray]:
    text = raw.astype("string").str.strip().astype(object)
    text[missing] = None
    return text, np.zeros(len(raw), dtype=bool)


def _to_number(integer: bool) -> Converter:
    def convert(
        raw: pd.Series, missing: np.ndarray, _: CleanOptions
    ) -> tuple[pd.Series, np.ndarray]:
        if pd.api.types.is_bool_dtype(raw.dtype):
            num = pd.Series(np.full(len(raw), np.nan))
        else:
            src = (
                raw
                if pd.api.types.is_numeric_dtype(raw.dtype)
                else raw.astype("string").str.strip()
            )
            num = pd.to_numeric(src, errors="coerce").astype(float)
        arr = num.to_numpy(dtype=float)
        bad = ~missing & ~np.isfinite(arr)
        if integer:
            with np.errstate(invalid="ignore"):
                bad |= ~missing & np.isfinite(arr) & (np.floor(arr) != arr)
            return pd.Series(arr).round().astype("Int64"), bad
        return pd.Series(arr), bad

    return convert


def _to_bool(raw: pd.Series, missing: np.ndarray, _: CleanOptions) -> tuple[pd.Series, np.ndarray]:
    text = raw.astype("string").str.strip().str.lower()
    is_true = text.isin(_TRUE).to_numpy(dtype=bool)
    is_false = text.isin(_FALSE).to_numpy(dtype=bool)
    values = pd.Series(pd.array(is_true, dtype="boolean"))
    values[~is_true & ~is_false] = pd.NA
    bad = ~missing & ~is_true & ~is_false
    return values, bad


def _to_datetime(
    raw: pd.Series, missing: np.ndarray, opts: CleanOptions
) -> tuple[pd.Series, np.ndarray]:
    """Aware values keep their offset; naive ones are read in the default zone (WIB)."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        ts = pd.Series(raw).reset_index(drop=True)
        if ts.dt.tz is None:
            ts = ts.dt.tz_localize(opts.default_tz, ambiguous="NaT", nonexistent="NaT")
        parsed = ts.dt.tz_convert("UTC")
    else:
        text = raw.astype("string").str.strip()
        fast = _arrow_datetimes(text, opts.default_tz)
        parsed = fast if fast is not None else _pandas_datetimes(text, missing, opts.default_tz)
    bad = ~missing & parsed.isna().to_numpy(dtype=bool)
    return parsed, bad


_TZ_SUFFIX = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _arrow_datetimes(text: pd.Series, default_tz: str) -> pd.Series | None:
    """The fast path (Arrow's ISO 8601 parser, ~40x pandas): all present values aware, or
    all naive, and all parseable. Anything else returns None for the per-value path."""
    arr = pa.array(text, type=pa.string(), from_pandas=True)
    aware = pc.match_substring_regex(arr, _TZ_SUFFIX)
    n_aware = pc.sum(aware).as_py() or 0
    try:
        if n_aware == len(arr) - arr.null_count:
            ts = pc.cast(arr, pa.timestamp("us", tz="UTC"))
        elif n_aware == 0:
            ts = pc.assume_timezone(pc.cast(arr, pa.timestamp("us")), default_tz)
        else:
            return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(ts.to_pandas(), index=text.index).astype("datetime64[ns, UTC]")


def _pandas_datetimes(text: pd.Series, missing: np.ndarray, default_tz: str) -> pd.Series:
    """Value by value: a bad value becomes NaT (a type_error) without failing the rest."""
    aware = text.str.contains(_TZ_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        parsed[aware] = pd.to_datetime(text[aware], utc=True, errors="coerce", format="ISO8601")
    naive = ~aware & ~missing
    if naive.any():
        local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
        parsed[naive] = local.dt.tz_localize(
            default_tz, ambiguous="NaT", nonexistent="NaT"
        ).dt.tz_convert("UTC")
    return parsed


def _to_date(
    raw: pd.Series, missing: np.ndarray, opts: CleanOptions
) -> tuple[pd.Series, np.ndarray]:
    text = raw.astype("string").str.strip()
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    bad = ~missing & parsed.isna().to_numpy(dtype=bool)
    return parsed.dt.date.astype(object).where(parsed.notna(), None), bad


_CONVERTERS: dict[str, Converter] = {
    "text": _to_text,
    "integer": _to_number(integer=True),
    "float": _to_number(integer=False),
    "boolean": _to_bool,
    "datetime": _to_datetime,
    "date": _to_date,
}
