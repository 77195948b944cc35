"""`gis analyze exposure` as a user runs it, on both stores: the table, CSV and JSON carry
the API's numbers; bad input is one readable line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_cli import gis

from api.app import create_app
from conftest import make_store, store_env
from gis.cli import SAMPLE_DIR, load_demo
from gis.store.base import Store


@pytest.fixture
def env(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    store = make_store(store_kind, tmp_path, request)  # resets PostGIS, loads the demo
    try:
        load_demo(store, SAMPLE_DIR, tmp_path / "rejects")
    finally:
        store.close()
    return store_env(store_kind, tmp_path, request)


def _api(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest, params: dict) -> dict:
    from gis.store.embedded import EmbeddedStore

    store = (
        EmbeddedStore(tmp_path / "store.duckdb")
        if store_kind == "embedded"
        else make_store_no_reset(request)
    )
    try:
        with TestClient(create_app(store=store)) as client:
            r = client.get("/analysis/exposure", params=params)
            assert r.status_code == 200, r.text
            return dict(r.json())
    finally:
        store.close()


def make_store_no_reset(request: pytest.FixtureRequest) -> Store:
    """The PostGIS test database as the CLI left it (make_store would empty it)."""
    from gis.store.postgis import PostgisStore

    return PostgisStore(request.getfixturevalue("postgis_url"), pool_min=1, pool_max=2)


def test_cli_exposure_equals_the_api(
    env: dict[str, str], store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    args = ["analyze", "exposure", "--hazard-type", "flood", "--admin-level", "village",
            "--area-code", "3399010"]  # fmt: skip
    r = gis([*args, "--format", "json"], env)
    assert r.returncode == 0, r.stderr
    cli = json.loads(r.stdout)
    api = _api(
        store_kind,
        tmp_path,
        request,
        {"hazard_type": "flood", "admin_level": "village", "area_code": "3399010"},
    )
    assert cli == api and len(cli["areas"]) > 1
    table = gis(args, env)
    assert table.returncode == 0, table.stderr
    first = cli["areas"][0]
    high = first["classes"][2]
    assert first["code"] in table.stdout and "high" in table.stdout
    assert f"{high['population']:,.0f}" in table.stdout
    as_csv = gis([*args, "--format", "csv"], env)
    lines = as_csv.stdout.strip().splitlines()
    assert lines[0].startswith("area_code,") and len(lines) == 1 + 3 * len(cli["areas"])


@pytest.mark.parametrize(
    ("args", "code", "word"),
    [
        (["--hazard-type", "lava"], 2, "lava"),
        (["--hazard-type", "flood", "--admin-level", "hamlet"], 2, "hamlet"),
        (["--hazard-type", "flood", "--area-code", "0000"], 1, "0000"),
    ],
)
def test_cli_exposure_errors(env: dict[str, str], args: list[str], code: int, word: str) -> None:
    r = gis(["analyze", "exposure", *args], env)
    assert r.returncode == code
    assert "error:" in r.stderr and word in r.stderr and "Traceback" not in r.stderr
