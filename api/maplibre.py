"""A MapLibre style (v8) for the service's vector tiles, derived from the layer specs'
styles: polygons as fill + outline, lines as lines, points as circles (clusters sized by
their point count), with one colour per category value where the spec has one."""

from __future__ import annotations

from typing import Any

from layers.spec import LayerSpec


def _color(spec: LayerSpec) -> Any:
    style = spec.style
    if not style.category_field or not style.category_colors:
        return style.color
    pairs = [v for key, color in style.category_colors for v in (key, color)]
    return ["match", ["get", style.category_field], *pairs, style.color]


def _radius(radius: int) -> Any:
    """Low-zoom tiles carry clusters with ``point_count`` (gis.query.tiles): a cluster is
    drawn larger the more points it stands for, a single point at the spec's radius."""
    return [
        "case",
        ["has", "point_count"],
        ["interpolate", ["linear"], ["get", "point_count"],
         1, radius, 100, radius * 2, 10_000, radius * 4],
        radius,
    ]  # fmt: skip


def style(specs: list[LayerSpec], tilejson_url: str, attribution: str) -> dict[str, Any]:
    layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": "#f4f6f8"}}
    ]
    for spec in specs:
        zooms = {"minzoom": spec.min_zoom, "maxzoom": spec.max_zoom + 1}
        common = {"source": "gis", "source-layer": spec.name, **zooms}
        color = _color(spec)
        if spec.geometry_type == "MultiPolygon":
            layers.append(
                {
                    "id": f"{spec.name}-fill",
                    "type": "fill",
                    **common,
                    "paint": {"fill-color": color, "fill-opacity": spec.style.fill_opacity},
                }
            )
            layers.append(
                {
                    "id": f"{spec.name}-outline",
                    "type": "line",
                    **common,
                    "paint": {"line-color": color, "line-width": 1},
                }
            )
        elif spec.geometry_type == "MultiLineString":
            layers.append(
                {
                    "id": spec.name,
                    "type": "line",
                    **common,
                    "paint": {"line-color": color, "line-width": 2},
                }
            )
        else:
            layers.append(
                {
                    "id": spec.name,
                    "type": "circle",
                    **common,
                    "paint": {
                        "circle-color": color,
                        "circle-radius": _radius(spec.style.radius),
                        "circle-stroke-color": "#ffffff",
                        "circle-stroke-width": 1,
                    },
                }
            )
    return {
        "version": 8,
        "name": "GIS Publik",
        "metadata": {"attribution": attribution},
        "sources": {"gis": {"type": "vector", "url": tilejson_url}},
        "layers": layers,
    }  # fmt: skip
