"""Small input files in every supported format, written by the tests themselves (no
binary fixtures in the repo). Each holds the same three facilities (one of them bad) so a
test can assert what loads and what is rejected, whatever the format."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point

#: name, type, capacity, lon, lat; the third has a facility type outside the enum.
FACILITIES = [
    ("Posko Banjir Sukamaju", "shelter", 300, 110.41, -6.96),
    ("RSUD Contoh", "hospital", 120, 110.43, -6.98),
    ("Mal Bukan Fasilitas", "mall", 0, 110.45, -6.99),
]
GOOD = 2


def frame(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {
            "kode": [f"F{i}" for i in range(len(FACILITIES))],
            "name": [f[0] for f in FACILITIES],
            "facility_type": [f[1] for f in FACILITIES],
            "capacity": [f[2] for f in FACILITIES],
        },
        geometry=[Point(f[3], f[4]) for f in FACILITIES],
        crs="EPSG:4326",
    )
    return gdf.to_crs(crs)


def write(fmt: str, folder: Path, crs: str = "EPSG:4326") -> Path:
    """A facilities file in ``fmt``: geojson, geojsonseq, gpkg, shapefile_zip, fgb,
    geoparquet, csv_lonlat, csv_wkt."""
    gdf = frame(crs)
    if fmt == "geojson":
        path = folder / "facilities.geojson"
        gdf.to_file(path, driver="GeoJSON")
    elif fmt == "geojsonseq":
        path = folder / "facilities.geojsonl"
        gdf.to_file(path, driver="GeoJSONSeq")
    elif fmt == "gpkg":
        path = folder / "facilities.gpkg"
        gdf.to_file(path, layer="fasilitas", driver="GPKG")
        gdf.iloc[:1].to_file(path, layer="lainnya", driver="GPKG")
    elif fmt == "shapefile_zip":
        shp_dir = folder / "shp"
        shp_dir.mkdir()
        with warnings.catch_warnings():  # dBase truncates facility_type to facility_t
            warnings.simplefilter("ignore")
            gdf.to_file(shp_dir / "fasilitas.shp")
        path = folder / "facilities.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(shp_dir.iterdir()):
                zf.write(part, f"fasilitas/{part.name}")
    elif fmt == "fgb":
        path = folder / "facilities.fgb"
        # no spatial index: it would reorder the features, and the test names them by index
        gdf.to_file(path, driver="FlatGeobuf", SPATIAL_INDEX="NO")
    elif fmt == "geoparquet":
        path = folder / "facilities.parquet"
        gdf.to_parquet(path)
    elif fmt == "csv_lonlat":
        path = folder / "facilities.csv"
        out = gdf.drop(columns="geometry")
        out.insert(0, "bujur", gdf.geometry.x)
        out.insert(1, "lintang", gdf.geometry.y)
        out.to_csv(path, index=False)
    elif fmt == "csv_wkt":
        path = folder / "facilities_wkt.csv"
        out = gdf.drop(columns="geometry")
        out["wkt"] = gdf.geometry.to_wkt()
        out.to_csv(path, index=False, sep=";")
    else:
        raise ValueError(fmt)
    return path


FORMATS = [
    "geojson",
    "geojsonseq",
    "gpkg",
    "shapefile_zip",
    "fgb",
    "geoparquet",
    "csv_lonlat",
    "csv_wkt",
]


def flood_depth_tif(path: Path, crs: str | None = "EPSG:32749") -> Path:
    """A 100 x 100 depth raster (10 m cells, UTM 49S near lon 110.42) with three classes:
    rows 0-19 at 0.05 m (no zone), 20-49 at 0.3 m (low), 50-79 at 1.0 m (medium),
    80-99 at 2.0 m (high)."""
    x0, y0 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32749", always_xy=True).transform(
        110.42, -6.95
    )
    data = np.full((100, 100), 0.05, dtype="float32")
    data[20:50] = 0.3
    data[50:80] = 1.0
    data[80:] = 2.0
    profile = {
        "driver": "GTiff",
        "width": 100,
        "height": 100,
        "count": 1,
        "dtype": "float32",
        "transform": from_origin(x0, y0, 10, 10),
        "nodata": -9999.0,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
    return path


def geojson_points(path: Path, n: int, *, name: str = "P") -> Path:
    """n valid facility points as GeoJSONSeq (streams well, cheap to write)."""
    rng = np.random.default_rng(7)
    lons = 110.3 + rng.random(n) * 0.2
    lats = -7.05 + rng.random(n) * 0.15
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "type": "Feature",
                        "properties": {
                            "name": f"{name}{i}",
                            "facility_type": "school",
                            "capacity": 100,
                        },
                        "geometry": {
                            "type": "Point",
                            "coordinates": [round(lons[i], 6), round(lats[i], 6)],
                        },
                    }
                )
                + "\n"
            )
    return path
