#!/usr/bin/env python
"""Generate a deterministic, realistic but SYNTHETIC city for demos, tests and benchmarks.

Why synthetic: real hazard maps, facility lists and population grids belong to their
agencies, change over time and must never be mistaken for demo data. This script invents a
lowland coastal city on the north coast of Java (around lon 110.40, lat -6.97) with a smooth
terrain model, rivers, flood and landslide hazard zones derived from that terrain,
administrative areas that tessellate the city exactly, public facilities, reported flood
points and two rasters. Every vector feature carries ``source = DEMO_SOURCE``, every name
ends in "(DEMO)" and every raster carries the GDAL metadata tag ``DEMO=synthetic``.

Determinism: all randomness comes from numpy generators seeded with ``--seed`` plus a fixed
per-component key, outputs are sorted, and no writer adds timestamps, so the same arguments
give byte-identical files (with the same library versions).

``--scale`` grows or shrinks the city: its extent is multiplied by sqrt(scale) per side, so
area, population, facility and flood point counts are proportional to scale while the
layout stays the same.

Usage (from the repository root)::

    python scripts/make_sample_data.py                    # demo data in data/ (committed)
    python scripts/make_sample_data.py --formats bench --out /tmp/bench-data
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pyproj
import rasterio
import rasterio.features
import rasterio.transform
import shapely
from rasterio.crs import CRS
from rasterio.transform import Affine
from shapely.geometry.base import BaseGeometry

# --- What every output says about itself -------------------------------------------------

#: The value of every feature's ``source`` field.
DEMO_SOURCE = "DEMO - data sintetis / synthetic data"
#: GDAL metadata tag (key, value) written into every raster.
DEMO_TAG = ("DEMO", "synthetic")
#: Suffix of every invented name, so a screenshot cannot pass for a real map.
DEMO_SUFFIX = " (DEMO)"
NOTICE = {
    "id": (
        "Data contoh SINTETIS untuk demo dan pengujian. Kota, batas wilayah, kawasan rawan "
        "bencana, fasilitas, titik banjir dan raster ini semuanya rekaan dan BUKAN informasi "
        "bahaya yang sebenarnya. Jangan digunakan untuk keputusan atau keadaan darurat."
    ),
    "en": (
        "SYNTHETIC sample data for demos and tests. The city, boundaries, hazard zones, "
        "facilities, flood points and rasters are all invented and are NOT real hazard "
        "information. Do not use them for decisions or emergencies."
    ),
}

# --- Where the city is and how fine the grids are ----------------------------------------

CENTER_LON, CENTER_LAT = 110.40, -6.97
SPAN_LON, SPAN_LAT = 0.25, 0.20
#: Local metres per degree at the city's latitude (equirectangular; good to <0.5 % here).
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTER_LAT))
#: Cell size of the terrain, hazard and flood-depth grid (degrees, about 55 m).
GRID_DEG = 0.0005
#: Vector coordinates are snapped to this grid, the 6 decimals written to GeoJSON.
PRECISION = 1e-6
POP_CELL_M = 100.0
POP_TOTAL = 250_000
UTM_EPSG = 32749  # WGS 84 / UTM zone 49S
TAU = 2.0 * math.pi

# --- Administrative areas (BPS-style codes) ----------------------------------------------

#: Not a real BPS code (Central Java regencies and cities use 3301-3376), so demo data
#: can never be mistaken for, or upserted over, a real area.
REGENCY_CODE = "3399"
REGENCY_NAME = "Kota Pesisir Sintetis"
N_DISTRICTS = 6
VILLAGES_PER_DISTRICT = (4, 6)  # inclusive range, about 5 on average
NAME_PREFIXES = (
    "Suka",
    "Sido",
    "Karang",
    "Tegal",
    "Banyu",
    "Jati",
    "Wono",
    "Purwo",
    "Ngesti",
    "Tirto",
    "Mekar",
    "Sumber",
    "Rejo",
    "Kembang",
    "Panca",
)
NAME_SUFFIXES = (
    "maju",
    "mulyo",
    "rejo",
    "sari",
    "asri",
    "jaya",
    "makmur",
    "harjo",
    "agung",
    "luhur",
    "indah",
    "wangi",
    "arum",
    "lestari",
)

# --- Layer contents -----------------------------------------------------------------------

FACILITIES_AT_SCALE_1 = 400
FLOOD_POINTS_AT_SCALE_1 = 1500
BENCH_POINTS_AT_SCALE_1 = 1_000_000
BENCH_POLYGONS_AT_SCALE_1 = 100_000
BATCH_SIZE = 100_000

#: Realistic shares of a city's facility list: many schools, few hospitals.
FACILITY_SHARES = {
    "school": 0.53,
    "shelter": 0.13,
    "government_office": 0.12,
    "health_center": 0.09,
    "police": 0.06,
    "hospital": 0.035,
    "fire_station": 0.035,
}
#: Capacity in people: (low, high, rounding step).
FACILITY_CAPACITY = {
    "shelter": (50, 2000, 10),
    "school": (100, 800, 10),
    "hospital": (100, 600, 10),
    "health_center": (20, 120, 5),
    "police": (20, 150, 5),
    "fire_station": (10, 60, 5),
    "government_office": (20, 300, 10),
}
SCHOOL_KINDS = ("SD Negeri", "SMP Negeri", "SMA Negeri", "SMK Negeri", "MI Negeri")
SCHOOL_KIND_SHARES = (0.55, 0.22, 0.1, 0.08, 0.05)
SHELTER_KINDS = (
    "Tempat Evakuasi Sementara",
    "Gedung Serbaguna",
    "Posko Pengungsian Masjid Jami",
    "Balai Warga",
)
HOSPITAL_KINDS = ("RS Umum", "RS Ibu dan Anak", "RS Bhakti")
STREETS = (
    "Melati",
    "Kenanga",
    "Flamboyan",
    "Cempaka",
    "Anggrek",
    "Mawar",
    "Dahlia",
    "Teratai",
    "Kamboja",
    "Nusa Indah",
    "Seroja",
    "Bugenvil",
    "Asoka",
    "Soka",
)

HAZARD_CLASSES = ("low", "medium", "high")  # raster codes 1, 2, 3
FLOOD_VALID_FROM = "2025-10-01"
LANDSLIDE_VALID_FROM = "2024-12-02"
FLOOD_STATUSES = ("reported", "verified", "receded", "rejected")
FLOOD_STATUS_SHARES = (0.2, 0.6, 0.15, 0.05)
#: The rainy season the flood reports fall in, as local (UTC+7) wall-clock time.
SEASON_START = np.datetime64("2026-01-01T00:00", "m")
SEASON_END = np.datetime64("2026-03-31T23:59", "m")
UTC_OFFSET = "+07:00"
N_RAIN_EVENTS = 11


# ==========================================================================================
# Coordinates and randomness
# ==========================================================================================


def rng_for(seed: int, *key: str | int) -> np.random.Generator:
    """A generator per component, so changing one layer never reshuffles another."""
    parts = [seed, *(zlib.crc32(k.encode()) if isinstance(k, str) else k for k in key)]
    return np.random.default_rng(parts)


def to_metres(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local east/north metres around the city centre, for distances and slopes."""
    return (lon - CENTER_LON) * M_PER_DEG_LON, (lat - CENTER_LAT) * M_PER_DEG_LAT


@dataclass(frozen=True)
class Frame:
    """Maps the unit plan (u east, v north, both 0..1) onto lon/lat.

    The city is drawn in unit coordinates so that --scale changes its size, not its layout.
    """

    west: float
    south: float
    width: float
    height: float

    @classmethod
    def for_scale(cls, scale: float) -> Frame:
        k = math.sqrt(scale)
        width, height = SPAN_LON * k, SPAN_LAT * k
        return cls(CENTER_LON - width / 2, CENTER_LAT - height / 2, width, height)

    def to_lonlat(self, uv: np.ndarray) -> np.ndarray:
        """(n, 2) unit coordinates to (n, 2) lon/lat."""
        return np.column_stack(
            (self.west + uv[:, 0] * self.width, self.south + uv[:, 1] * self.height)
        )

    def to_unit(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (lon - self.west) / self.width, (lat - self.south) / self.height

    def geometry(self, unit_geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(unit_geometry, self.to_lonlat)


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: origin, square cell size and shape."""

    west: float
    north: float
    res: float
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.west, 0.0, -self.res, self.north)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D arrays of cell-centre x and y."""
        x = self.west + (np.arange(self.width) + 0.5) * self.res
        y = self.north - (np.arange(self.height) + 0.5) * self.res
        return np.meshgrid(x, y)

    @classmethod
    def covering(cls, bounds: Sequence[float], res: float, margin: int) -> Grid:
        """The grid aligned to multiples of res that covers bounds plus margin cells."""
        i0 = math.floor(bounds[0] / res) - margin
        i1 = math.ceil(bounds[2] / res) + margin
        j0 = math.floor(bounds[1] / res) - margin
        j1 = math.ceil(bounds[3] / res) + margin
        return cls(round(i0 * res, 9), round(j1 * res, 9), res, i1 - i0, j1 - j0)


# ==========================================================================================
# The city plan: coast, outline, rivers, terrain
# ==========================================================================================


@dataclass(frozen=True)
class Plan:
    """The seed-dependent layout of the city, in unit coordinates."""

    coast_phase: tuple[float, float]
    outline: np.ndarray  # (k, 3): harmonic, amplitude, phase of the boundary wobble
    main_u0: float
    meander_phase: tuple[float, float]
    tributaries: np.ndarray  # (3, 5): u start, join v, wobble amplitude, frequency, phase
    canal_v: float
    hills: np.ndarray  # (n, 4): u, v, amplitude (m), sigma (unit) of broad massifs
    knolls: np.ndarray  # (n, 4): u, v, amplitude (m), sigma (m) of steep hills on them
    swell_phase: np.ndarray  # (3,) phases of the gentle undulation of the plain
    centres: np.ndarray  # (n, 4): u, v, weight, sigma of population centres


def make_plan(seed: int, scale: float) -> Plan:
    """Draws the layout; knolls keep a constant density per km² whatever the scale."""
    rng = rng_for(seed, "plan")
    n_knolls = max(4, round(90 * scale))
    knolls = np.column_stack(
        (
            rng.uniform(0.0, 1.0, n_knolls),
            rng.uniform(-0.05, 0.3, n_knolls),
            rng.lognormal(math.log(120.0), 0.35, n_knolls),
            rng.uniform(300.0, 650.0, n_knolls),
        )
    )
    n_hills = 5
    hills = np.column_stack(
        (
            rng.uniform(0.05, 0.95, n_hills),
            rng.uniform(-0.05, 0.18, n_hills),
            rng.uniform(30.0, 80.0, n_hills),
            rng.uniform(0.05, 0.1, n_hills),
        )
    )
    centre = [0.5 + rng.uniform(-0.05, 0.05), 0.68 + rng.uniform(-0.03, 0.03), 1.0, 0.17]
    subcentres = np.column_stack(
        (
            rng.uniform(0.2, 0.8, 3),
            rng.uniform(0.3, 0.72, 3),
            rng.uniform(0.3, 0.6, 3),
            rng.uniform(0.05, 0.09, 3),
        )
    )
    tributaries = np.array(
        [
            [rng.uniform(0.1, 0.2), rng.uniform(0.35, 0.42), 0.02, 1.5, rng.uniform(0, TAU)],
            [rng.uniform(0.8, 0.9), rng.uniform(0.58, 0.66), 0.025, 2.0, rng.uniform(0, TAU)],
            [rng.uniform(0.62, 0.7), rng.uniform(0.2, 0.28), 0.015, 1.0, rng.uniform(0, TAU)],
        ]
    )
    return Plan(
        coast_phase=(rng.uniform(0, TAU), rng.uniform(0, TAU)),
        outline=np.column_stack(
            ((2.0, 3.0, 5.0), rng.uniform(0.01, 0.035, 3), rng.uniform(0, TAU, 3))
        ),
        main_u0=0.5 + rng.uniform(-0.04, 0.04),
        meander_phase=(rng.uniform(0, TAU), rng.uniform(0, TAU)),
        tributaries=tributaries,
        canal_v=rng.uniform(0.48, 0.52),
        hills=hills,
        knolls=knolls,
        swell_phase=rng.uniform(0, TAU, 3),
        centres=np.vstack(([centre], subcentres)),
    )


def coast_v(plan: Plan, u: np.ndarray) -> np.ndarray:
    """Northing of the coastline (unit coordinates) at easting u; the sea lies north."""
    p0, p1 = plan.coast_phase
    return 0.88 + 0.025 * np.sin(TAU * 0.9 * u + p0) + 0.012 * np.sin(TAU * 2.3 * u + p1)


def regency_outline(plan: Plan, frame: Frame) -> BaseGeometry:
    """A wobbly rounded rectangle cut by the coast, snapped to the output precision."""
    theta = np.linspace(0.0, TAU, 480, endpoint=False)
    c, s = np.cos(theta), np.sin(theta)
    radius = (np.abs(c) ** 4 + np.abs(s) ** 4) ** -0.25
    freq, amp, phase = plan.outline.T
    wobble = 1.0 + (amp[:, None] * np.sin(freq[:, None] * theta + phase[:, None])).sum(axis=0)
    blob = shapely.Polygon(
        np.column_stack((0.5 + 0.47 * c * radius * wobble, 0.5 + 0.49 * s * radius * wobble))
    )
    u = np.linspace(-0.2, 1.2, 281)
    land = shapely.Polygon(
        np.vstack((np.column_stack((u, coast_v(plan, u))), [[1.2, -0.2], [-0.2, -0.2]]))
    )
    parts = shapely.get_parts(shapely.intersection(blob, land))
    largest = parts[np.argmax(shapely.area(parts))]
    return shapely.set_precision(frame.geometry(largest), PRECISION)


def coastline(plan: Plan, frame: Frame) -> shapely.LineString:
    u = np.linspace(-0.2, 1.2, 281)
    return shapely.LineString(frame.to_lonlat(np.column_stack((u, coast_v(plan, u)))))


def main_river_unit(plan: Plan) -> np.ndarray:
    """The main river from the southern hills to beyond the coast, as (n, 2) u, v."""
    v = np.linspace(-0.05, 1.1, 461)
    p0, p1 = plan.meander_phase
    u = plan.main_u0 + 0.045 * np.sin(TAU * 1.6 * v + p0) + 0.018 * np.sin(TAU * 4.1 * v + p1)
    return np.column_stack((u, v))


def tributary_unit(main: np.ndarray, params: np.ndarray) -> np.ndarray:
    """A stream from the southern edge that meanders into a vertex of the main river."""
    u_start, v_join, amp, freq, phase = params
    end = main[np.argmin(np.abs(main[:, 1] - v_join))]
    t = np.linspace(0.0, 1.0, 221)
    ease = t * t * (3.0 - 2.0 * t)  # leaves the hills heading north, turns in at the end
    wiggle = amp * np.sin(TAU * freq * t + phase) * np.sin(np.pi * t) ** 2
    u = u_start + (end[0] - u_start) * ease + wiggle
    v = -0.05 + (end[1] + 0.05) * t  # strictly northward, so the line never crosses itself
    line = np.column_stack((u, v))
    line[-1] = end  # join exactly on the main river's vertex
    return line


def canal_unit(main: np.ndarray, v_branch: float) -> np.ndarray:
    """A straight engineered flood canal branching west off the main river to the sea."""
    start = main[np.argmin(np.abs(main[:, 1] - v_branch))]
    u0, v0 = start
    return np.array([start, [u0 - 0.1, v0 + 0.04], [u0 - 0.14, v0 + 0.1], [u0 - 0.14, 1.1]])


def river_lines(plan: Plan, frame: Frame, seed: int) -> list[tuple[str, str, BaseGeometry]]:
    """(name, river_class, unclipped lon/lat line), main river first."""
    names = name_pool(rng_for(seed, "river-names"), 4)
    main = main_river_unit(plan)
    lines = [(f"Kali {names[0]}", "main", main)]
    lines += [
        (f"Kali {name}", "tributary", tributary_unit(main, params))
        for name, params in zip(names[1:], plan.tributaries, strict=True)
    ]
    lines.append(("Kanal Banjir Barat", "canal", canal_unit(main, plan.canal_v)))
    return [
        (name + DEMO_SUFFIX, cls, shapely.LineString(frame.to_lonlat(coords)))
        for name, cls, coords in lines
    ]


def segment_tree(lines: Sequence[BaseGeometry]) -> shapely.STRtree:
    """An index of the lines' segments in local metres, for fast nearest distances."""
    pairs: list[np.ndarray] = []
    for line in shapely.get_parts(np.asarray(lines, dtype=object)):
        x, y = to_metres(*shapely.get_coordinates(line).T)
        xy = np.column_stack((x, y))
        pairs.append(np.stack((xy[:-1], xy[1:]), axis=1))
    segments = cast(np.ndarray, shapely.linestrings(np.concatenate(pairs)))
    return shapely.STRtree(segments)


def distance_m(tree: shapely.STRtree, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Distance in metres from each lon/lat to the nearest indexed segment."""
    x, y = to_metres(np.ravel(lon), np.ravel(lat))
    (index, _), dist = tree.query_nearest(
        shapely.points(x, y), return_distance=True, all_matches=False
    )
    out = np.empty(x.size)
    out[index] = dist
    return out.reshape(np.shape(lon))


@dataclass(frozen=True)
class Terrain:
    """The synthetic landscape: a DEM sloping to the sea, rivers and population density."""

    plan: Plan
    frame: Frame
    rivers: shapely.STRtree
    coast: shapely.STRtree

    def sample(self, lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
        """Elevation (m), distances to river and coast (m) and relative density at points."""
        d_river = distance_m(self.rivers, lon, lat)
        d_coast = distance_m(self.coast, lon, lat)
        elev = self.elevation(lon, lat, d_river)
        return {
            "elev": elev,
            "d_river": d_river,
            "d_coast": d_coast,
            "density": self.density(lon, lat, elev, d_river),
        }

    def elevation(self, lon: np.ndarray, lat: np.ndarray, d_river: np.ndarray) -> np.ndarray:
        """Coastal plain rising to the south, hills in the south, valleys along rivers."""
        u, v = self.frame.to_unit(lon, lat)
        x, y = to_metres(lon, lat)
        p = self.plan.swell_phase
        inland = np.clip(coast_v(self.plan, u) - v, 0.0, None)
        swells = 1.5 * np.sin(TAU * x / 5200 + p[0]) * np.sin(TAU * y / 4300 + p[1])
        swells += 0.9 * np.sin(TAU * (x - 0.5 * y) / 2900 + p[2])
        plain = 0.6 + 55.0 * inland**1.4 + swells * np.clip(inland / 0.05, 0.0, 1.0)
        hills_mask = np.clip((0.42 - v) / 0.3, 0.0, 1.0) ** 2
        hills = np.zeros_like(u)
        for hu, hv, amp, sigma in self.plan.hills:
            hills += amp * np.exp(-((u - hu) ** 2 + (v - hv) ** 2) / (2 * sigma**2))
        kx, ky = to_metres(*self.frame.to_lonlat(self.plan.knolls[:, :2]).T)
        for cx, cy, amp, sigma in zip(kx, ky, *self.plan.knolls[:, 2:].T, strict=True):
            hills += amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        valley = 2.0 * np.exp(-((d_river / 250.0) ** 2))
        return np.maximum(plain + hills_mask * hills - valley, 0.2)

    def density(
        self, lon: np.ndarray, lat: np.ndarray, elev: np.ndarray, d_river: np.ndarray
    ) -> np.ndarray:
        """Relative population density: a dense centre, sub-centres, empty steep hills."""
        u, v = self.frame.to_unit(lon, lat)
        dens = np.full_like(u, 0.06)
        for cu, cv, weight, sigma in self.plan.centres:
            dens += weight * np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2 * sigma**2))
        dens *= np.clip(1.0 - (elev - 25.0) / 90.0, 0.1, 1.0)
        return dens * (1.0 - 0.85 * np.exp(-((d_river / 80.0) ** 2)))


def flood_classes(elev: np.ndarray, d_river: np.ndarray, d_coast: np.ndarray) -> np.ndarray:
    """Flood hazard class per cell: 0 none, 1 low, 2 medium, 3 high.

    High: near a river and low-lying, or a low coastal strip; lower classes relax both.
    """
    high = ((d_river < 1000) & (elev < 5)) | ((d_coast < 1000) & (elev < 3))
    medium = ((d_river < 2000) & (elev < 10)) | ((d_coast < 2500) & (elev < 6))
    low = ((d_river < 3000) & (elev < 20)) | (elev < 12)
    return np.select([high, medium, low], [3, 2, 1], 0).astype(np.uint8)


def landslide_classes(elev: np.ndarray, grid: Grid) -> np.ndarray:
    """Landslide susceptibility per cell: slope of 10, 13 and 16 degrees and more on ground
    above 30 m, which only the knolls of the southern hills reach."""
    dy = grid.res * M_PER_DEG_LAT
    dx = grid.res * M_PER_DEG_LON
    gy, gx = np.gradient(elev, dy, dx)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    hills = elev > 30
    classes = np.select(
        [hills & (slope >= 16), hills & (slope >= 13), hills & (slope >= 10)], [3, 2, 1], 0
    )
    return classes.astype(np.uint8)


def flood_depth(elev: np.ndarray, d_river: np.ndarray, d_coast: np.ndarray) -> np.ndarray:
    """Design-flood water depth (m): river and coastal stages minus terrain height."""
    stage = 2.6 * np.exp(-d_river / 900.0) + 1.6 * np.exp(-d_coast / 1800.0) + 0.4
    return np.round(np.clip(stage - 0.45 * elev, 0.0, 3.0), 2)


# ==========================================================================================
# Names
# ==========================================================================================


def name_pool(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct invented Javanese-sounding names such as 'Sukamaju'."""
    combos = [p + s for p in NAME_PREFIXES for s in NAME_SUFFIXES if p.lower() != s]
    if n > len(combos):
        raise ValueError(f"only {len(combos)} names available, {n} requested")
    return [combos[i] for i in rng.permutation(len(combos))[:n]]


def unique_names(names: Sequence[str]) -> list[str]:
    """Numbers repeated names ('Puskesmas Sukamaju 2') the way agencies tell them apart."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return out


# ==========================================================================================
# Administrative areas: an exact tessellation of the regency
# ==========================================================================================


@dataclass(frozen=True)
class Admin:
    """The regency, its districts and villages; short names are used in addresses."""

    regency: BaseGeometry
    district_codes: list[str]
    district_names: list[str]
    districts: np.ndarray
    village_codes: list[str]
    village_names: list[str]
    village_parents: list[str]
    villages: np.ndarray

    def frame(self) -> gpd.GeoDataFrame:
        rows: list[tuple[str, str, str, str | None, BaseGeometry]] = [
            (REGENCY_CODE, REGENCY_NAME, "regency", None, self.regency)
        ]
        rows += [
            (code, f"Kecamatan {name}", "district", REGENCY_CODE, geom)
            for code, name, geom in zip(
                self.district_codes, self.district_names, self.districts, strict=True
            )
        ]
        rows += [
            (code, f"Kelurahan {name}", "village", parent, geom)
            for code, name, parent, geom in zip(
                self.village_codes,
                self.village_names,
                self.village_parents,
                self.villages,
                strict=True,
            )
        ]
        rows.sort(key=lambda row: row[0])
        codes, names, levels, parents, geoms = zip(*rows, strict=True)
        return gpd.GeoDataFrame(
            {
                "code": codes,
                "name": [n + DEMO_SUFFIX for n in names],
                "level": levels,
                "parent_code": parents,
                "source": DEMO_SOURCE,
            },
            geometry=as_multipolygons(np.asarray(geoms, dtype=object)),
            crs="EPSG:4326",
        )


def as_multipolygons(geoms: np.ndarray) -> np.ndarray:
    """Polygonal geometries as MultiPolygons, the geometry type of the polygon layers."""
    out = np.empty(len(geoms), dtype=object)
    for i, geom in enumerate(geoms):
        parts = [p for p in shapely.get_parts(geom) if isinstance(p, shapely.Polygon)]
        out[i] = shapely.MultiPolygon(parts)
    return out


def random_points_in(rng: np.random.Generator, polygon: BaseGeometry, n: int) -> np.ndarray:
    """n uniform random points inside polygon, as an (n, 2) array."""
    shapely.prepare(polygon)
    minx, miny, maxx, maxy = polygon.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform((minx, miny), (maxx, maxy), size=(4 * n + 16, 2))
        out = np.vstack((out, xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]))
    return out[:n]


def voronoi_cells(seeds: np.ndarray, clip: BaseGeometry) -> np.ndarray:
    """Voronoi cells of seeds (in seed order) clipped to clip."""
    envelope = shapely.buffer(shapely.envelope(clip), 1.0)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=envelope, ordered=True)
    return shapely.intersection(shapely.get_parts(cells), clip)


def lloyd(seeds: np.ndarray, clip: BaseGeometry, rounds: int) -> np.ndarray:
    """Lloyd relaxation: evens out cell sizes so no district or village is a sliver."""
    for _ in range(rounds):
        seeds = shapely.get_coordinates(shapely.centroid(voronoi_cells(seeds, clip)))
    return seeds


def voronoi_edges(seeds: np.ndarray, clip: BaseGeometry) -> BaseGeometry:
    envelope = shapely.buffer(shapely.envelope(clip), 1.0)
    edges = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=envelope, only_edges=True)
    return shapely.intersection(edges, clip)


def geographic_order(points: np.ndarray) -> np.ndarray:
    """Indices ordering points north to south, then west to east, like code numbering."""
    return np.lexsort((np.round(points[:, 0], 9), -np.round(points[:, 1], 9)))


def make_admin(seed: int, outline: BaseGeometry) -> Admin:
    """Districts and villages as Voronoi cells, all cut from one noded linework.

    Noding every boundary together and polygonizing makes shared edges identical, so the
    villages tile their district, and the districts the regency, exactly.
    """
    rng = rng_for(seed, "admin")
    d_seeds = lloyd(random_points_in(rng, outline, N_DISTRICTS), outline, 4)
    d_seeds = d_seeds[geographic_order(d_seeds)]
    d_cells = voronoi_cells(d_seeds, outline)
    lines = [shapely.boundary(outline), voronoi_edges(d_seeds, outline)]
    v_seeds, v_district = [], []
    for k, cell in enumerate(d_cells):
        n = int(rng.integers(VILLAGES_PER_DISTRICT[0], VILLAGES_PER_DISTRICT[1] + 1))
        seeds = lloyd(random_points_in(rng, cell, n), cell, 3)
        seeds = seeds[geographic_order(seeds)]
        lines.append(voronoi_edges(seeds, cell))
        v_seeds.append(seeds)
        v_district += [k] * n
    noded = shapely.union_all(lines, grid_size=PRECISION)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    face_village = assign_faces(faces, d_cells, np.vstack(v_seeds), np.array(v_district))
    return build_admin(seed, faces, face_village, np.array(v_district), len(d_cells))


def assign_faces(
    faces: np.ndarray, d_cells: np.ndarray, v_seeds: np.ndarray, v_district: np.ndarray
) -> np.ndarray:
    """The village index of each face: its district cell, then the nearest village seed."""
    inner = shapely.point_on_surface(faces)
    (_, face_district) = shapely.STRtree(d_cells).query_nearest(inner, all_matches=False)
    xy = shapely.get_coordinates(inner)
    dist = np.hypot(xy[:, None, 0] - v_seeds[None, :, 0], xy[:, None, 1] - v_seeds[None, :, 1])
    dist[face_district[:, None] != v_district[None, :]] = np.inf
    return np.argmin(dist, axis=1)


def build_admin(
    seed: int,
    faces: np.ndarray,
    face_village: np.ndarray,
    v_district: np.ndarray,
    n_districts: int,
) -> Admin:
    """Unions faces into villages and villages into districts, with codes and names."""
    names = name_pool(rng_for(seed, "admin-names"), n_districts + len(v_district))
    d_codes = [f"{REGENCY_CODE}{10 * (k + 1):03d}" for k in range(n_districts)]
    villages, v_codes, v_names, v_parents, v_of_district = [], [], [], [], []
    counters = [0] * n_districts
    for index, district in enumerate(v_district):
        mine = faces[face_village == index]
        if len(mine) == 0:  # a seed whose cell fell outside its district: no village
            continue
        counters[district] += 1
        villages.append(shapely.union_all(mine, grid_size=PRECISION))
        v_codes.append(f"{d_codes[district]}{counters[district]:03d}")
        v_names.append(names[n_districts + index])
        v_parents.append(d_codes[district])
        v_of_district.append(district)
    owner = np.array(v_of_district)
    village_geoms = np.array(villages, dtype=object)
    districts = np.array(
        [
            shapely.union_all(village_geoms[owner == k], grid_size=PRECISION)
            for k in range(n_districts)
        ],
        dtype=object,
    )
    return Admin(
        regency=shapely.union_all(districts, grid_size=PRECISION),
        district_codes=d_codes,
        district_names=names[:n_districts],
        districts=districts,
        village_codes=v_codes,
        village_names=v_names,
        village_parents=v_parents,
        villages=village_geoms,
    )


# ==========================================================================================
# The city: everything derived once and shared by the writers
# ==========================================================================================


@dataclass(frozen=True)
class City:
    seed: int
    scale: float
    frame: Frame
    terrain: Terrain
    admin: Admin
    rivers: gpd.GeoDataFrame
    grid: Grid
    inside: np.ndarray  # cell centre inside the regency
    fields: dict[str, np.ndarray]  # elev, d_river, d_coast, density, flood, landslide, depth

    @property
    def regency(self) -> BaseGeometry:
        return self.admin.regency


def build_city(seed: int, scale: float) -> City:
    """Plan, terrain, administrative areas, rivers and the analysis grid for one seed."""
    frame = Frame.for_scale(scale)
    plan = make_plan(seed, scale)
    admin = make_admin(seed, regency_outline(plan, frame))
    regency = admin.regency
    shapely.prepare(regency)
    lines = river_lines(plan, frame, seed)
    terrain = Terrain(
        plan,
        frame,
        segment_tree([g for _, _, g in lines]),
        segment_tree([coastline(plan, frame)]),
    )
    rivers = clip_rivers(lines, regency)
    grid = Grid.covering(regency.bounds, GRID_DEG, margin=4)
    lon, lat = grid.centres()
    fields = terrain.sample(lon, lat)
    fields["flood"] = flood_classes(fields["elev"], fields["d_river"], fields["d_coast"])
    fields["landslide"] = landslide_classes(fields["elev"], grid)
    fields["depth"] = flood_depth(fields["elev"], fields["d_river"], fields["d_coast"])
    inside = rasterio.features.geometry_mask([regency], grid.shape, grid.transform, invert=True)
    return City(seed, scale, frame, terrain, admin, rivers, grid, inside, fields)


def clip_rivers(
    lines: Sequence[tuple[str, str, BaseGeometry]], regency: BaseGeometry
) -> gpd.GeoDataFrame:
    names, classes, geoms = [], [], []
    for name, river_class, line in lines:
        clipped = shapely.intersection(line, regency, grid_size=PRECISION)
        parts = [p for p in shapely.get_parts(clipped) if isinstance(p, shapely.LineString)]
        if parts:
            names.append(name)
            classes.append(river_class)
            geoms.append(shapely.MultiLineString(parts))
    return gpd.GeoDataFrame(
        {"name": names, "river_class": classes, "source": DEMO_SOURCE},
        geometry=geoms,
        crs="EPSG:4326",
    )


# ==========================================================================================
# Hazard zones: classified grid -> exact polygon coverage -> simplified -> clipped
# ==========================================================================================


def grow_outward(classes: np.ndarray, inside: np.ndarray, steps: int) -> np.ndarray:
    """Extends classes a few cells beyond the regency so clipping, not the grid, makes the
    zones' outer edge."""
    out = classes.copy()
    for _ in range(steps):
        padded = np.pad(out, 1)
        neighbours = np.maximum.reduce(
            [padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
        )
        out = np.where(~inside & (out == 0), neighbours, out)
    return out


def class_faces(classes: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Edge-matched polygons of the classified cells and their classes.

    GDAL's polygonizer does not repeat vertices along shared edges, so its polygons are
    re-noded and polygonized into a proper coverage before coverage simplification.
    """
    shapes = rasterio.features.shapes(
        classes, mask=classes > 0, transform=grid.transform, connectivity=4
    )
    polygons = np.array([shapely.geometry.shape(geom) for geom, _ in shapes], dtype=object)
    if len(polygons) == 0:
        return polygons, np.zeros(0, dtype=np.uint8)
    noded = shapely.union_all(shapely.boundary(polygons))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    x, y = shapely.get_coordinates(shapely.point_on_surface(faces)).T
    rows, cols = rasterio.transform.rowcol(grid.transform, x, y)
    values = classes[np.asarray(rows), np.asarray(cols)]
    return faces[values > 0], values[values > 0]


def zones(classes: np.ndarray, city: City, min_cells: int) -> list[tuple[int, BaseGeometry]]:
    """(class, MultiPolygon) zones: sieved, simplified without gaps or overlaps, then cut
    along district boundaries, as agencies publish hazard maps per kecamatan."""
    sieved = rasterio.features.sieve(classes, min_cells, mask=city.inside, connectivity=4)
    sieved = grow_outward(np.where(city.inside, sieved, 0).astype(np.uint8), city.inside, 4)
    faces, values = class_faces(sieved, city.grid)
    if len(faces) == 0:
        return []
    simplified = shapely.coverage_simplify(faces, 1.6 * city.grid.res)
    face, district = shapely.STRtree(city.admin.districts).query(simplified, predicate="intersects")
    clipped = shapely.intersection(
        simplified[face], city.admin.districts[district], grid_size=PRECISION
    )
    min_area = 2 * city.grid.res**2
    out: list[tuple[int, BaseGeometry]] = []
    for value, geom in zip(values[face], clipped, strict=True):
        parts = [
            p
            for p in shapely.get_parts(geom)
            if isinstance(p, shapely.Polygon) and p.area >= min_area
        ]
        if parts:
            out.append((int(value), shapely.MultiPolygon(parts)))
    return out


def hazard_zones(city: City) -> gpd.GeoDataFrame:
    """Flood zones from terrain and river distance, landslide zones on the southern hills."""
    rows = [
        ("flood", HAZARD_CLASSES[v - 1], FLOOD_VALID_FROM, g)
        for v, g in zones(city.fields["flood"], city, min_cells=16)
    ]
    rows += [
        ("landslide", HAZARD_CLASSES[v - 1], LANDSLIDE_VALID_FROM, g)
        for v, g in zones(city.fields["landslide"], city, min_cells=80)
    ]
    centroids = shapely.get_coordinates(shapely.centroid([r[3] for r in rows]))
    order = sorted(
        range(len(rows)),
        key=lambda i: (
            rows[i][0],
            HAZARD_CLASSES.index(rows[i][1]),
            -centroids[i, 1],
            centroids[i, 0],
        ),
    )
    return gpd.GeoDataFrame(
        {
            "hazard_type": [rows[i][0] for i in order],
            "hazard_class": [rows[i][1] for i in order],
            "source": DEMO_SOURCE,
            "valid_from": [rows[i][2] for i in order],
        },
        geometry=[rows[i][3] for i in order],
        crs="EPSG:4326",
    )


# ==========================================================================================
# Facilities
# ==========================================================================================


def facility_counts(n: int) -> dict[str, int]:
    """Exactly max(n, 7) facilities: one of each type, the rest by share (largest remainder)."""
    types = list(FACILITY_SHARES)
    rest = max(n, len(types)) - len(types)
    exact = np.array([FACILITY_SHARES[t] for t in types]) * rest
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: rest - counts.sum()]:
        counts[i] += 1
    return dict(zip(types, (counts + 1).tolist(), strict=True))


def density_points(rng: np.random.Generator, city: City, n: int) -> np.ndarray:
    """n points inside the regency, denser where people live (rejection sampling).

    Coordinates are rounded to the output precision before the inside test, so written
    points are inside too.
    """
    peak = float(city.fields["density"][city.inside].max())
    minx, miny, maxx, maxy = city.regency.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = np.round(rng.uniform((minx, miny), (maxx, maxy), size=(8 * n + 64, 2)), 6)
        keep = shapely.contains_xy(city.regency, xy[:, 0], xy[:, 1])
        xy = xy[keep]
        dens = city.terrain.sample(xy[:, 0], xy[:, 1])["density"]
        out = np.vstack((out, xy[rng.random(len(xy)) < dens / peak]))
    return out[:n]


class FacilityNamer:
    """Invents names the way Indonesian facility lists spell them, e.g.
    'SD Negeri 12 Sukamaju', 'Puskesmas Tegalsari', 'Polsek Jatimulyo'."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.counters: dict[tuple[str, str], int] = {}
        self.seen: set[tuple[str, str]] = set()
        self.handlers: dict[str, Callable[[str, str], str]] = {
            "shelter": self.shelter,
            "hospital": self.hospital,
            "health_center": self.health_center,
            "school": self.school,
            "police": self.police,
            "fire_station": self.fire_station,
            "government_office": self.government_office,
        }

    def count(self, kind: str, place: str) -> int:
        self.counters[kind, place] = self.counters.get((kind, place), 0) + 1
        return self.counters[kind, place]

    def first(self, kind: str, place: str) -> bool:
        """Whether this is the first facility of kind in place."""
        new = (kind, place) not in self.seen
        self.seen.add((kind, place))
        return new

    def name(self, ftype: str, village: str, district: str) -> str:
        """The name (without the DEMO suffix) of a facility of ftype in village/district."""
        return self.handlers[ftype](village, district)

    def school(self, village: str, district: str) -> str:
        kind = str(self.rng.choice(SCHOOL_KINDS, p=SCHOOL_KIND_SHARES))
        return f"{kind} {self.count(kind, district)} {district}"

    def shelter(self, village: str, district: str) -> str:
        return f"{self.rng.choice(SHELTER_KINDS)} {village}"

    def hospital(self, village: str, district: str) -> str:
        if self.first("RSUD", ""):
            return f"RSUD {REGENCY_NAME}"
        return f"{self.rng.choice(HOSPITAL_KINDS)} {district}"

    def health_center(self, village: str, district: str) -> str:
        return f"Puskesmas {village}"

    def police(self, village: str, district: str) -> str:
        if self.first("Polsek", district):
            return f"Polsek {district}"
        return f"Pos Polisi {village}"

    def fire_station(self, village: str, district: str) -> str:
        return f"Pos Pemadam Kebakaran {district}"

    def government_office(self, village: str, district: str) -> str:
        if self.first("Kelurahan", village):
            return f"Kantor Kelurahan {village}"
        if self.first("Kecamatan", district):
            return f"Kantor Kecamatan {district}"
        return f"Kantor UPTD {village}"


def facility_capacity(rng: np.random.Generator, ftypes: np.ndarray) -> np.ndarray:
    """Plausible capacities per type, log-uniform so small sites outnumber large ones."""
    out = np.zeros(len(ftypes), dtype=np.int64)
    for ftype, (low, high, step) in FACILITY_CAPACITY.items():
        mask = ftypes == ftype
        raw = np.exp(rng.uniform(math.log(low), math.log(high), mask.sum()))
        out[mask] = np.clip(np.round(raw / step) * step, low, high)
    return out


def facilities(city: City, n: int) -> pd.DataFrame:
    """A facility list as agencies supply it: lon/lat columns plus attributes."""
    rng = rng_for(city.seed, "facilities")
    xy = density_points(rng, city, max(n, len(FACILITY_SHARES)))
    counts = facility_counts(len(xy))
    ftypes = np.repeat(np.array(list(counts)), list(counts.values()))
    ftypes = ftypes[rng.permutation(len(ftypes))]
    rank = np.array([list(FACILITY_SHARES).index(t) for t in ftypes])
    order = np.lexsort((xy[:, 0], -xy[:, 1], rank))
    xy, ftypes = xy[order], ftypes[order]
    tree = shapely.STRtree(city.admin.villages)
    (_, village) = tree.query_nearest(shapely.points(xy), all_matches=False)
    admin = city.admin
    v_names = [admin.village_names[i] for i in village]
    d_names = [
        admin.district_names[admin.district_codes.index(admin.village_parents[i])] for i in village
    ]
    namer = FacilityNamer(rng)
    names = unique_names(
        [namer.name(t, v, d) for t, v, d in zip(ftypes, v_names, d_names, strict=True)]
    )
    streets = rng.choice(STREETS, len(xy))
    numbers = rng.integers(1, 200, len(xy))
    return pd.DataFrame(
        {
            "lon": xy[:, 0],
            "lat": xy[:, 1],
            "name": [name + DEMO_SUFFIX for name in names],
            "facility_type": ftypes,
            "capacity": facility_capacity(rng, ftypes),
            "address": [
                f"Jl. {s} No. {k}, Kel. {v}, Kec. {d}, {REGENCY_NAME}"
                for s, k, v, d in zip(streets, numbers, v_names, d_names, strict=True)
            ],
            "is_open": np.where(rng.random(len(xy)) < 0.95, "true", "false"),
            "contact": [
                f"DEMO-{k:04d} (fiktif / fictitious)" for k in rng.integers(0, 10000, len(xy))
            ],
            "source": DEMO_SOURCE,
        }
    )


# ==========================================================================================
# Flood points
# ==========================================================================================


@dataclass(frozen=True)
class PointSampler:
    """Draws flood reports: mostly in high and medium flood zones where people live."""

    city: City
    cdf: np.ndarray
    cells: np.ndarray  # flat indices of cells with weight
    events: np.ndarray  # event start times (minutes, local)
    event_cdf: np.ndarray

    @classmethod
    def for_city(cls, city: City) -> PointSampler:
        f = city.fields
        weight = np.array([0.02, 0.15, 1.0, 2.5])[f["flood"]]
        weight = weight * (0.25 + f["density"] / f["density"][city.inside].max())
        weight = np.where(city.inside, weight, 0.0).ravel()
        cells = np.flatnonzero(weight)
        cdf = np.cumsum(weight[cells])
        rng = rng_for(city.seed, "rain-events")
        span = int((SEASON_END - SEASON_START) / np.timedelta64(1, "m"))
        events = np.sort(rng.integers(0, span - 3 * 24 * 60, N_RAIN_EVENTS))
        event_weights = np.cumsum(rng.gamma(2.0, 1.0, N_RAIN_EVENTS))
        return cls(city, cdf / cdf[-1], cells, events, event_weights / event_weights[-1])

    def locations(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, 2) lon/lat inside the regency, and the flat grid cell of each."""
        grid = self.city.grid
        xy, cells = np.empty((0, 2)), np.empty(0, dtype=np.int64)
        while len(xy) < n:
            k = n - len(xy)
            cell = self.cells[np.searchsorted(self.cdf, rng.random(k), side="right")]
            row, col = np.divmod(cell, grid.width)
            lon = grid.west + (col + rng.random(k)) * grid.res
            lat = grid.north - (row + rng.random(k)) * grid.res
            pts = np.round(np.column_stack((lon, lat)), 6)
            ok = shapely.contains_xy(self.city.regency, pts[:, 0], pts[:, 1])
            xy, cells = np.vstack((xy, pts[ok])), np.concatenate((cells, cell[ok]))
        return xy, cells

    def times(self, rng: np.random.Generator, status: np.ndarray) -> np.ndarray:
        """Minutes after the season start: clustered after rain events, later if receded."""
        n = len(status)
        event = np.searchsorted(self.event_cdf, rng.random(n), side="right")
        delay = np.minimum(rng.gamma(2.0, 240.0, n), 72 * 60)
        delay += np.where(status == "receded", rng.uniform(12 * 60, 48 * 60, n), 0.0)
        minutes = self.events[event] + delay.astype(np.int64)
        return np.minimum(minutes, int((SEASON_END - SEASON_START) / np.timedelta64(1, "m")))

    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """n flood points: (n, 2) lon/lat and columns depth_cm, observed_at, source, status."""
        xy, cells = self.locations(rng, n)
        status = np.asarray(FLOOD_STATUSES)[
            np.searchsorted(np.cumsum(FLOOD_STATUS_SHARES), rng.random(n) * 0.999999)
        ]
        depth_m = self.city.fields["depth"].ravel()[cells]
        depth = depth_m * 100 * rng.lognormal(0.0, 0.25, n) + rng.gamma(2.0, 5.0, n)
        depth = np.where(status == "receded", depth * 0.3, depth)
        local = SEASON_START + self.times(rng, status).astype("timedelta64[m]")
        observed = np.char.add(np.datetime_as_string(local, unit="s"), UTC_OFFSET)
        return xy, {
            "depth_cm": np.clip(np.round(depth), 0, 300).astype(np.int32),
            "observed_at": observed,
            "source": np.full(n, DEMO_SOURCE),
            "status": status,
        }


def flood_points(city: City, n: int) -> gpd.GeoDataFrame:
    """The demo flood points, sorted by observation time then position."""
    xy, columns = PointSampler.for_city(city).batch(rng_for(city.seed, "flood-points"), n)
    order = np.lexsort((xy[:, 0], xy[:, 1], columns["observed_at"]))
    frame = pd.DataFrame({k: v[order] for k, v in columns.items()})
    return gpd.GeoDataFrame(frame, geometry=shapely.points(xy[order]), crs="EPSG:4326")


# ==========================================================================================
# Rasters
# ==========================================================================================


def population_grid(city: City) -> tuple[Grid, np.ndarray]:
    """People per 100 m UTM cell, summing to about POP_TOTAL x scale; -1 outside."""
    to_utm = pyproj.Transformer.from_crs(4326, UTM_EPSG, always_xy=True)
    bounds = to_utm.transform_bounds(*city.regency.bounds)
    grid = Grid.covering(bounds, POP_CELL_M, margin=1)
    x, y = grid.centres()
    lon, lat = to_utm.transform(x, y, direction="INVERSE")
    inside = shapely.contains_xy(city.regency, lon, lat)
    dens = city.terrain.sample(lon, lat)["density"]
    dens *= rng_for(city.seed, "population").lognormal(0.0, 0.3, dens.shape)
    people = np.where(inside, dens, 0.0)
    people *= POP_TOTAL * city.scale / people.sum()
    return grid, np.where(inside, np.round(people), -1.0).astype(np.float32)


def write_raster(
    path: Path, data: np.ndarray, grid: Grid, epsg: int, nodata: float, tags: dict[str, str]
) -> None:
    """A DEFLATE GeoTIFF with the DEMO tag; GDAL writes no timestamp into it."""
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "float32",
        "crs": CRS.from_epsg(epsg),
        "transform": grid.transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3,
        "zlevel": 9,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)
        dst.update_tags(**dict([DEMO_TAG]), SOURCE=DEMO_SOURCE, **tags)


def write_rasters(city: City, out: Path) -> list[dict[str, str]]:
    grid, people = population_grid(city)
    write_raster(out / "population.tif", people, grid, UTM_EPSG, -1.0, {"UNIT": "people per cell"})
    depth = np.where(city.inside, city.fields["depth"], -9999.0)
    write_raster(out / "flood_depth.tif", depth, city.grid, 4326, -9999.0, {"UNIT": "m"})
    return [
        {"file": "population.tif", "raster": "population"},
        {"file": "flood_depth.tif", "raster": "flood_depth"},
    ]


# ==========================================================================================
# Benchmark-sized layers, streamed in batches
# ==========================================================================================


def wkb_field(name: str) -> pa.Field:
    return pa.field(name, pa.binary(), metadata={"ARROW:extension:name": "geoarrow.wkb"})


def stream_fgb(
    path: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch], geometry_type: str
) -> None:
    """Writes batches to FlatGeobuf without holding the layer in memory."""
    path.unlink(missing_ok=True)
    reader = pa.RecordBatchReader.from_batches(schema, batches)
    pyogrio.write_arrow(
        reader,
        path,
        layer=path.stem,
        driver="FlatGeobuf",
        geometry_name="geometry",
        geometry_type=geometry_type,
        crs="EPSG:4326",
    )


def flood_point_batches(city: City, n: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    sampler = PointSampler.for_city(city)
    for start in range(0, n, BATCH_SIZE):
        size = min(BATCH_SIZE, n - start)
        xy, columns = sampler.batch(rng_for(city.seed, "bench-points", start), size)
        arrays = [pa.array(columns[f.name]) for f in schema if f.name != "geometry"]
        arrays.append(pa.array(shapely.to_wkb(shapely.points(xy)), pa.binary()))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def bench_cells(city: City, n: int) -> np.ndarray:
    """Centres of n square cells inside the regency, spread evenly over it."""
    shapely.prepare(city.regency)
    size = math.sqrt(city.regency.area / n)
    minx, miny, maxx, maxy = city.regency.bounds
    while True:
        x = np.arange(minx + size / 2, maxx, size)
        y = np.arange(maxy - size / 2, miny, -size)
        xx, yy = (a.ravel() for a in np.meshgrid(x, y))
        inside = shapely.contains_xy(city.regency, xx, yy)
        if inside.sum() >= n:
            keep = np.linspace(0, inside.sum() - 1, n).round().astype(np.int64)
            return np.column_stack((xx[inside][keep], yy[inside][keep], np.full(n, size)))
        size *= 0.97


def hazard_cell_batches(city: City, n: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Many small valid polygons: hazard-grid cells classed by flood or landslide hazard."""
    cells = bench_cells(city, n)
    step = BATCH_SIZE // 5
    for start in range(0, n, step):
        x, y, size = cells[start : start + step].T
        rows, cols = rasterio.transform.rowcol(city.grid.transform, x, y)
        flood = city.fields["flood"][rows, cols]
        slide = city.fields["landslide"][rows, cols]
        is_slide = slide > 0
        code = np.maximum(np.where(is_slide, slide, flood), 1)
        half = size / 2
        boxes = shapely.box(
            np.round(x - half, 6),
            np.round(y - half, 6),
            np.round(x + half, 6),
            np.round(y + half, 6),
        )
        polys = shapely.multipolygons(boxes, indices=np.arange(len(boxes)))
        columns = {
            "hazard_type": np.where(is_slide, "landslide", "flood"),
            "hazard_class": np.asarray(HAZARD_CLASSES)[code - 1],
            "source": np.full(len(x), DEMO_SOURCE),
            "valid_from": np.where(is_slide, LANDSLIDE_VALID_FROM, FLOOD_VALID_FROM),
        }
        arrays = [pa.array(columns[f.name]) for f in schema if f.name != "geometry"]
        arrays.append(pa.array(shapely.to_wkb(polys), pa.binary()))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


# ==========================================================================================
# Writers
# ==========================================================================================


def write_vector(frame: gpd.GeoDataFrame, path: Path) -> None:
    """GeoJSON with 6-decimal coordinates (about 0.1 m), or FlatGeobuf for benchmarks."""
    path.unlink(missing_ok=True)
    if path.suffix == ".geojson":
        pyogrio.write_dataframe(
            frame,
            path,
            layer=path.stem,
            driver="GeoJSON",
            layer_options={"COORDINATE_PRECISION": "6"},
        )
    else:
        pyogrio.write_dataframe(frame, path, layer=path.stem, driver="FlatGeobuf")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.6f")


def write_json(data: object, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


README = """\
# Sample data (SYNTHETIC)

**Data contoh sintetis — bukan informasi bahaya yang sebenarnya.**
**Synthetic demo data — not real hazard information.**

Everything here describes an invented city, "{regency} (DEMO)", on the north
coast of Java near lon 110.40, lat -6.97. Boundaries, codes, names, hazard zones,
facilities, flood reports, population and flood depths are all generated from a random
seed. Every name ends in "(DEMO)", both rasters carry the GDAL metadata tag
`DEMO=synthetic` and every feature's `source` field is

    {source}

| File | Contents |
| --- | --- |
| admin_areas.geojson | 1 regency, {districts} districts, {villages} villages, tiling exactly |
| hazard_zones.geojson | {flood} flood and {landslide} landslide zones (low/medium/high) |
| rivers.geojson | main river, tributaries and a flood canal |
| facilities.csv | {facilities} public facilities with lon/lat columns |
| flood_points.geojson | {points} flood reports, January to March 2026 (UTC+7) |
| population.tif | people per 100 m cell, EPSG:32749, about {people:,} in total |
| flood_depth.tif | design flood depth in metres, EPSG:4326, about 55 m cells |

`manifest.json` lists the files in loading order with their layer and raster names.

Regenerate from the repository root (byte-identical with the same library versions):

    python scripts/make_sample_data.py --out data --seed 42 --scale 1.0 --formats demo

Benchmark-sized data (1,000,000 points, 100,000 polygons, FlatGeobuf), not committed:

    python scripts/make_sample_data.py --formats bench --out /tmp/bench-data
"""


def write_demo(city: City, out: Path, n_points: int) -> None:
    """The committed demo set: GeoJSON, CSV, GeoTIFF, manifest and README."""
    admin = city.admin.frame()
    hazards = hazard_zones(city)
    facility_list = facilities(city, round(FACILITIES_AT_SCALE_1 * city.scale))
    points = flood_points(city, n_points)
    write_vector(admin, out / "admin_areas.geojson")
    write_vector(hazards, out / "hazard_zones.geojson")
    write_vector(city.rivers, out / "rivers.geojson")
    write_csv(facility_list, out / "facilities.csv")
    write_vector(points, out / "flood_points.geojson")
    rasters = write_rasters(city, out)
    write_manifest(out, ".geojson", rasters)
    counts = hazards["hazard_type"].value_counts()
    (out / "README.md").write_text(
        README.format(
            regency=REGENCY_NAME,
            source=DEMO_SOURCE,
            districts=len(city.admin.districts),
            villages=len(city.admin.villages),
            flood=counts.get("flood", 0),
            landslide=counts.get("landslide", 0),
            facilities=len(facility_list),
            points=len(points),
            people=round(POP_TOTAL * city.scale),
        ),
        encoding="utf-8",
    )


def write_bench(city: City, out: Path, n_points: int, n_polygons: int) -> None:
    """Benchmark set: FlatGeobuf layers streamed in batches, plus the small layers."""
    write_vector(city.admin.frame(), out / "admin_areas.fgb")
    zone_schema = pa.schema(
        [pa.field(n, pa.string()) for n in ("hazard_type", "hazard_class", "source", "valid_from")]
        + [wkb_field("geometry")]
    )
    stream_fgb(
        out / "hazard_zones.fgb",
        zone_schema,
        hazard_cell_batches(city, n_polygons, zone_schema),
        "MultiPolygon",
    )
    write_vector(city.rivers, out / "rivers.fgb")
    write_csv(facilities(city, round(FACILITIES_AT_SCALE_1 * city.scale)), out / "facilities.csv")
    point_schema = pa.schema(
        [
            pa.field("depth_cm", pa.int32()),
            pa.field("observed_at", pa.string()),
            pa.field("source", pa.string()),
            pa.field("status", pa.string()),
            wkb_field("geometry"),
        ]
    )
    stream_fgb(
        out / "flood_points.fgb",
        point_schema,
        flood_point_batches(city, n_points, point_schema),
        "Point",
    )
    write_manifest(out, ".fgb", write_rasters(city, out))


def write_manifest(out: Path, suffix: str, rasters: list[dict[str, str]]) -> None:
    """How to load the files, in dependency order (admin areas first)."""
    layers: list[dict[str, str]] = [
        {"file": f"admin_areas{suffix}", "layer": "admin_areas", "id_field": "code"},
        {"file": f"hazard_zones{suffix}", "layer": "hazard_zones"},
        {"file": f"rivers{suffix}", "layer": "rivers"},
        {"file": "facilities.csv", "layer": "facilities"},
        {"file": f"flood_points{suffix}", "layer": "flood_points"},
    ]
    write_json({"notice": NOTICE, "layers": layers, "rasters": rasters}, out / "manifest.json")


# ==========================================================================================
# Command line
# ==========================================================================================


def positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Generate a deterministic SYNTHETIC demo city (not real hazard data).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data"),
        help="output directory, created if missing (default: data/)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=42,
        help="random seed; same seed and options give identical files (default: 42)",
    )
    parser.add_argument(
        "--scale",
        type=positive_float,
        default=1.0,
        help="city size: area, population and feature counts scale with it "
        "(default: 1.0, about 0.25 x 0.2 degrees)",
    )
    parser.add_argument(
        "--points",
        type=positive_int,
        default=None,
        help="number of flood points (default: 1500 x scale for demo, 1,000,000 x scale for bench)",
    )
    parser.add_argument(
        "--polygons",
        type=positive_int,
        default=None,
        help="bench only: number of small hazard zone polygons (default: 100,000 x scale)",
    )
    parser.add_argument(
        "--formats",
        choices=("demo", "bench"),
        default="demo",
        help="demo: small GeoJSON/CSV/GeoTIFF set committed to the repo; "
        "bench: large FlatGeobuf layers for benchmarks (default: demo)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    city = build_city(args.seed, args.scale)
    if args.formats == "demo":
        if args.polygons is not None:
            print("note: --polygons is only used with --formats bench", file=sys.stderr)
        n_points = args.points or max(1, round(FLOOD_POINTS_AT_SCALE_1 * args.scale))
        write_demo(city, args.out, n_points)
    else:
        n_points = args.points or max(1, round(BENCH_POINTS_AT_SCALE_1 * args.scale))
        n_polygons = args.polygons or max(1, round(BENCH_POLYGONS_AT_SCALE_1 * args.scale))
        write_bench(city, args.out, n_points, n_polygons)
    for path in sorted(args.out.iterdir()):
        if path.is_file():
            print(f"{path}  {path.stat().st_size / 1024:,.1f} KiB")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
