"""Shared fixtures: a store of each kind, each test on an empty one.

PostGIS tests use GIS_TEST_DATABASE_URL (default: the local server, database gis_test,
created with the postgis extension if missing). When PostGIS is unreachable they skip,
unless GIS_REQUIRE_POSTGIS=1 (as in CI), where a skip of a PostGIS test fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from gis.store.base import Store

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TEST_DB = os.environ.get("GIS_TEST_DATABASE", "gis_test")
REQUIRE_POSTGIS = os.environ.get("GIS_REQUIRE_POSTGIS") == "1"

_skipped_postgis: list[str] = []


def _admin_url() -> str:
    return os.environ.get("GIS_TEST_ADMIN_URL", DEFAULT_ADMIN_URL)


def _test_url() -> str:
    explicit = os.environ.get("GIS_TEST_DATABASE_URL")
    if explicit:
        return explicit
    base = _admin_url().rsplit("/", 1)[0]
    return f"{base}/{TEST_DB}"


@pytest.fixture(scope="session")
def postgis_url() -> str:
    """A reachable PostGIS database URL, created on first use."""
    url = _test_url()
    try:
        if not os.environ.get("GIS_TEST_DATABASE_URL"):
            with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=3) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (TEST_DB,)
                ).fetchone()
                if not exists:
                    conn.execute(f'CREATE DATABASE "{TEST_DB}"')
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.Error as exc:
        message = f"PostGIS not available at {url}: {str(exc).strip().splitlines()[0]}"
        if REQUIRE_POSTGIS:
            pytest.fail(message + " (GIS_REQUIRE_POSTGIS=1)")
        pytest.skip(message)
    return url


def reset_postgis(url: str) -> None:
    """Drop every table in public (layers, staging leftovers, metadata) for a clean test."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys'"
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP TABLE IF EXISTS public."{name}" CASCADE')


@pytest.fixture(params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty, migrated store of each kind."""
    s = make_store(store_kind, tmp_path, request)
    try:
        yield s
    finally:
        s.close()


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "postgis":
        from gis.store.postgis import PostgisStore

        url = request.getfixturevalue("postgis_url")
        reset_postgis(url)
        store: Store = PostgisStore(url, pool_min=1, pool_max=4)
    else:
        from gis.store.embedded import EmbeddedStore

        store = EmbeddedStore(tmp_path / "store.duckdb")
    store.migrate()
    return store


def store_env(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for a `gis` subprocess that should use the same store as ``kind``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIS_")}
    env["GIS_DATA_DIR"] = str(tmp_path)
    env["COLUMNS"] = "200"  # Rich wraps tables at 80 columns when not on a terminal
    env["GIS_EMBEDDED_FILE"] = "store.duckdb"
    if kind == "postgis":
        env["GIS_DATABASE_URL"] = request.getfixturevalue("postgis_url")
    return env


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # CI installs PostGIS and GDAL: a skip of either kind of test there is a failure.
    if report.skipped and ("postgis" in report.keywords or "interop" in report.keywords):
        _skipped_postgis.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REQUIRE_POSTGIS and _skipped_postgis:
        session.exitstatus = 1
        print(
            f"\nGIS_REQUIRE_POSTGIS=1 but {len(_skipped_postgis)} PostGIS or interop tests "
            "were skipped"
        )
