"""The OpenAPI document is valid OpenAPI 3.0 (the oas30 conformance class) and the HTML
docs load nothing from third-party hosts."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from api.app import create_app
from gis.store.base import Store
from layers import LAYERS


def test_api_is_valid_openapi_30_describing_every_collection(store: Store) -> None:
    with TestClient(create_app(store=store)) as client:
        r = client.get("/api")
        assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
        doc = r.json()
        html = client.get("/api.html").text
        landing = client.get("/").json()
    assert doc["openapi"].startswith("3.0")
    validate(doc)
    for name in LAYERS:
        params = {
            p["name"] for p in doc["paths"][f"/collections/{name}/items"]["get"]["parameters"]
        }
        assert {"bbox", "datetime", "limit", "crs", "bbox-crs"} <= params
    assert not re.search(r"""(src|href)=["']https?://""", html)
    desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    assert desc["href"] == "/api" and "version=3.0" in desc["type"]
