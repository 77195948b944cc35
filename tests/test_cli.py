"""The `gis` command as a user runs it: exit codes, messages, summaries, kill -9 safety,
serving; on both stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import samples
from conftest import store_env

GIS = [sys.executable, "-m", "gis.cli"]


def gis(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GIS, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def env(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    if store_kind == "postgis":
        from conftest import reset_postgis

        reset_postgis(request.getfixturevalue("postgis_url"))
    return store_env(store_kind, tmp_path, request)


def layer_state(env: dict[str, str]) -> dict[str, tuple[int, int]]:
    r = gis(["layers", "--json"], env)
    assert r.returncode == 0, r.stderr
    return {x["name"]: (x["features"], x["version"]) for x in json.loads(r.stdout)}


def test_ingest_prints_a_summary_and_layers_lists_it(env: dict[str, str], tmp_path: Path) -> None:
    path = samples.write("geojson", tmp_path)
    r = gis(["ingest", str(path), "--layer", "facilities"], env)
    assert r.returncode == 0, r.stderr
    assert "loaded" in r.stdout and "enum_violation" in r.stdout
    assert layer_state(env)["facilities"] == (2, 1)
    table = gis(["layers"], env)
    assert "facilities" in table.stdout and "Public facilities" in table.stdout
    runs = gis(["runs"], env)
    assert "succeeded" in runs.stdout and "facilities.geojson" in runs.stdout


def _zip_bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb/a.shp", b"\0" * (60 * 1024 * 1024))
    return path


def _zip_slip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../evil.shp", b"x")
    return path


def _gpkg_with_trigger(path: Path) -> Path:
    import sqlite3

    samples.frame().to_file(path, layer="fasilitas", driver="GPKG")
    con = sqlite3.connect(path)
    con.execute("CREATE TRIGGER t AFTER INSERT ON fasilitas BEGIN SELECT 1; END")
    con.commit()
    con.close()
    return path


def _truncated(path: Path, tmp: Path) -> Path:
    good = samples.write("geojson", tmp)
    path.write_bytes(good.read_bytes()[:200])
    return path


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda t: t / "missing.geojson", [], "not found"),
        (lambda t: _truncated(t / "cut.geojson", t), [], "cut.geojson"),
        (lambda t: _zip_bomb(t / "bomb.zip"), [], "zip"),
        (lambda t: _zip_slip(t / "slip.zip"), [], "outside"),
        (lambda t: _gpkg_with_trigger(t / "trig.gpkg"), [], "trigger"),
        (lambda t: Path("/vsicurl/http://127.0.0.1:9/x.geojson"), [], "only local file"),
        (lambda t: samples.write("geojson", t), ["--layer", "sewers"], "unknown layer"),
        (lambda t: samples.write("geojson", t), ["--set", "colour=red"], "colour"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(
    env: dict[str, str], tmp_path: Path, make, args: list[str], message: str
) -> None:
    (tmp_path / "good").mkdir()
    good = samples.write("geojson", tmp_path / "good")
    assert gis(["ingest", str(good), "--layer", "facilities"], env).returncode == 0
    before = layer_state(env)
    bad = make(tmp_path)
    cmd = ["ingest", str(bad), *(args if "--layer" in args else ["--layer", "facilities", *args])]
    r = gis(cmd, env)
    assert r.returncode != 0
    assert "error:" in r.stderr and message.lower() in r.stderr.lower(), r.stderr
    assert "Traceback" not in r.stderr
    assert layer_state(env) == before


def test_size_limit_from_the_environment(env: dict[str, str], tmp_path: Path) -> None:
    path = samples.write("geojson", tmp_path)
    r = gis(["ingest", str(path), "--layer", "facilities"], {**env, "GIS_INGEST_MAX_BYTES": "100"})
    assert r.returncode == 1 and "limit" in r.stderr
    assert layer_state(env)["facilities"] == (0, 0)


@pytest.mark.slow
def test_kill_9_mid_ingest_leaves_the_previous_layer(env: dict[str, str], tmp_path: Path) -> None:
    small = samples.geojson_points(tmp_path / "small.geojsonl", 50, name="old")
    assert gis(["ingest", str(small), "--layer", "facilities"], env).returncode == 0
    big = samples.geojson_points(tmp_path / "big.geojsonl", 300_000, name="new")
    proc = subprocess.Popen(
        [*GIS, "ingest", str(big), "--layer", "facilities"],
        env={**env, "GIS_INGEST_CHUNK_SIZE": "2000", "GIS_INGEST_PROGRESS_SECONDS": "0.3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    # wait until it is well into loading: the log reports progress every few seconds
    for line in proc.stderr:
        if "features" in line and "/" in line and "started" not in line:
            break
        assert time.monotonic() < deadline, "ingest did not start loading"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert layer_state(env)["facilities"] == (50, 1)
    # and the next ingest is not blocked by anything the killed one left
    assert gis(["ingest", str(small), "--layer", "facilities"], env).returncode == 0
    assert layer_state(env)["facilities"] == (50, 2)


@pytest.mark.slow
def test_serve_answers_health_ready_and_landing(env: dict[str, str], tmp_path: Path) -> None:
    path = samples.write("geojson", tmp_path)
    assert gis(["ingest", str(path), "--layer", "facilities"], env).returncode == 0
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen(
        [*GIS, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    assert json.load(r)["status"] == "ok"
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not start")
        with urllib.request.urlopen(base + "/ready", timeout=5) as r:
            assert json.load(r)["status"] == "ready"
        with urllib.request.urlopen(base + "/", timeout=5) as r:
            layers = {x["name"]: x["feature_count"] for x in json.load(r)["layers"]}
        assert layers["facilities"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
