"""Landing page, health and readiness on both stores, through the real app factory."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from gis.ingest.clean import Cleaner, CleanOptions
from gis.ingest.source import Chunk
from gis.store.base import IngestRun, Notice, Store
from layers import LAYERS, get_layer

DEMO = Notice(
    "DEMO - data sintetis, bukan data bahaya nyata", "DEMO - synthetic data, not real hazard data"
)


def _load_two_facilities(store: Store, notice: Notice | None) -> None:
    spec = get_layer("facilities")
    attrs = pd.DataFrame({"name": ["Posko 1", "Posko 2"], "facility_type": ["shelter"] * 2})
    geoms = np.array([shapely.Point(110.4, -6.9), shapely.Point(110.41, -6.91)], dtype=object)
    cleaned = Cleaner(spec, CleanOptions(source_crs=pyproj.CRS.from_epsg(4326))).clean(
        Chunk(0, attrs, geoms)
    )
    run = IngestRun(
        id=uuid.uuid4().hex,
        layer="facilities",
        kind="vector",
        mode="replace",
        source_path="t",
        source_sha256="",
        source_format="csv",
        source_bytes=0,
        run_by="pytest",
        notice=notice,
    )
    with store.load(spec, run) as writer:
        writer.write(cleaned.rows, cleaned.geometry)
        writer.commit(run)


@pytest.fixture
def client(store: Store):
    with TestClient(create_app(store=store)) as c:
        yield c


def test_landing_json_lists_every_layer_with_counts(client: TestClient, store: Store) -> None:
    _load_two_facilities(store, DEMO)
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    by_name = {layer["name"]: layer for layer in body["layers"]}
    assert set(by_name) == set(LAYERS)
    assert by_name["facilities"]["feature_count"] == 2
    assert by_name["facilities"]["version"] == 1
    assert by_name["facilities"]["notice"] == {"id": DEMO.id, "en": DEMO.en}
    assert by_name["hazard_zones"]["feature_count"] == 0
    assert body["notices"] == [{"id": DEMO.id, "en": DEMO.en}]
    assert body["store"] == store.kind
    assert {link["rel"] for link in body["links"]} >= {"self", "service-desc", "service-doc"}


def test_landing_html_is_bilingual_and_shows_the_demo_banner(
    client: TestClient, store: Store
) -> None:
    _load_two_facilities(store, DEMO)
    r = client.get("/", headers={"accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert DEMO.id in html and DEMO.en in html
    assert "Fasilitas umum" in html and "Public facilities" in html
    assert client.get("/?f=html").text == html


def test_landing_without_demo_data_has_no_banner(client: TestClient, store: Store) -> None:
    _load_two_facilities(store, None)
    assert client.get("/").json()["notices"] == []
    assert 'class="demo"' not in client.get("/?f=html").text


def test_unknown_parameter_is_a_problem(client: TestClient) -> None:
    r = client.get("/?colour=blue")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert "colour" in r.json()["detail"]
    assert client.get("/?f=xml").status_code == 400


def test_unknown_path_is_a_problem(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["type"].endswith("/not-found")


def test_health_and_ready(client: TestClient, store: Store) -> None:
    assert client.get("/health").json()["status"] == "ok"
    r = client.get("/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready", "store": store.kind}


def test_ready_is_503_when_the_store_is_down(client: TestClient, store: Store) -> None:
    store.close()  # the database connection is gone, as after a server restart
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/store-unavailable")
    assert client.get("/health").status_code == 200  # liveness does not depend on the store


def test_cors_lets_other_sites_read_public_data(client: TestClient) -> None:
    """Web maps on other origins read layers and tiles: simple and preflight requests."""
    got = client.get("/collections", headers={"Origin": "https://peta.example.go.id"})
    assert got.status_code == 200
    assert got.headers["access-control-allow-origin"] == "*"
    assert "ETag" in got.headers["access-control-expose-headers"]
    pre = client.options(
        "/analysis/within",
        headers={"Origin": "https://peta.example.go.id", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert pre.status_code == 200
    assert "POST" in pre.headers["access-control-allow-methods"]


def test_cors_can_be_turned_off(store: Store) -> None:
    from gis.settings import ServerSettings

    app = create_app(store=store, server=ServerSettings(cors_origins=""))
    with TestClient(app) as plain:
        got = plain.get("/collections", headers={"Origin": "https://peta.example.go.id"})
    assert got.status_code == 200
    assert "access-control-allow-origin" not in got.headers
