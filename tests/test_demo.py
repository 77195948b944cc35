"""`gis demo --no-serve` builds a store from the committed synthetic city; a second run
finds everything up to date. On both stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import reset_postgis, store_env
from gis.settings import StoreSettings
from gis.store import open_store

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "data" / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_demo_builds_every_layer_marked_synthetic(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store_kind == "postgis":
        reset_postgis(request.getfixturevalue("postgis_url"))
    env = store_env(store_kind, tmp_path, request)
    cmd = [sys.executable, "-m", "gis.cli", "demo", "--no-serve"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert second.stderr.count("up to date") == len(MANIFEST["layers"]) + len(MANIFEST["rasters"])

    settings = StoreSettings(
        database_url=env.get("GIS_DATABASE_URL"), data_dir=tmp_path, embedded_file="store.duckdb"
    )
    store = open_store(settings)
    try:
        layers = {info.name: info for info in store.layers()}
        rasters = {info.name: info for info in store.rasters()}
        for entry in MANIFEST["layers"]:
            info = layers[entry["layer"]]
            assert info.feature_count > 0 and info.version == 1
            assert info.notice is not None and info.notice.id == MANIFEST["notice"]["id"]
            assert info.notice.en == MANIFEST["notice"]["en"]
            assert store.runs(entry["layer"])[0].features_rejected == 0
        for entry in MANIFEST["rasters"]:
            assert rasters[entry["raster"]].notice is not None
        sources = {r[0] for r in store.read_features("facilities", ("source",))}
        assert sources == {"DEMO - data sintetis / synthetic data"}
    finally:
        store.close()
