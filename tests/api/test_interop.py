"""Real clients read the API with no custom code: GDAL's OGR OAPIF driver (Debian's
ogrinfo) and OWSLib, against `gis serve` on each store loaded with the demo city."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import reset_postgis, store_env

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if store_kind == "postgis":
        reset_postgis(request.getfixturevalue("postgis_url"))
    env = store_env(store_kind, tmp_path, request)
    gis = [sys.executable, "-m", "gis.cli"]
    built = subprocess.run([*gis, "demo", "--no-serve"], env=env, capture_output=True,
                           text=True, timeout=300, check=False)  # fmt: skip
    assert built.returncode == 0, built.stderr
    port = _free_port()
    proc = subprocess.Popen([*gis, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gis serve did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ogrinfo(*args: str) -> str:
    exe = shutil.which("ogrinfo")
    if exe is None:
        pytest.skip("ogrinfo not installed (Debian: apt-get install gdal-bin)")
    r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_gdal_lists_and_reads_every_collection(server: str) -> None:
    listing = _ogrinfo("-ro", "-q", f"OAPIF:{server}")
    for name in ("admin_areas", "hazard_zones", "rivers", "facilities", "flood_points"):
        assert name in listing
        summary = _ogrinfo("-ro", "-so", f"OAPIF:{server}", name)
        assert "Feature Count" in summary
    with urllib.request.urlopen(f"{server}/collections/facilities/items?limit=1") as r:
        total = json.load(r)["numberMatched"]
    full = _ogrinfo("-ro", "-al", "-q", f"OAPIF:{server}", "facilities")
    assert full.count("OGRFeature(facilities)") == total


def test_gdal_bbox_and_attribute_filter(server: str) -> None:
    bbox = ("110.38", "-6.98", "110.42", "-6.94")
    url = f"{server}/collections/facilities/items?limit=1000&bbox={','.join(bbox)}"
    with urllib.request.urlopen(url) as r:
        in_box = json.load(r)["features"]
    schools = [f for f in in_box if f["properties"]["facility_type"] == "school"]
    assert schools
    out = _ogrinfo("-ro", "-al", "-q", "-spat", *bbox, "-where", "facility_type = 'school'",
                   f"OAPIF:{server}", "facilities")  # fmt: skip
    assert out.count("OGRFeature(facilities)") == len(schools)


def test_owslib_reads_collections_queryables_and_items(server: str) -> None:
    from owslib.ogcapi.features import Features

    api = Features(server)
    ids = [c["id"] for c in api.collections()["collections"]]
    assert "hazard_zones" in ids
    queryables = api.collection_queryables("hazard_zones")
    assert queryables["properties"]["hazard_class"]["enum"] == ["low", "medium", "high"]
    items = api.collection_items("hazard_zones", limit=5)
    assert (
        items["numberReturned"] == 5 and items["features"][0]["geometry"]["type"] == "MultiPolygon"
    )
    one = api.collection_item("hazard_zones", str(items["features"][0]["id"]))
    assert one["id"] == items["features"][0]["id"]
