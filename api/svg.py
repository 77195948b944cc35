"""A small map preview for the HTML pages, as inline SVG: no JavaScript, no tiles, no CDN,
light enough for a cheap phone. Coordinates are lon/lat scaled by cos(latitude)."""

from __future__ import annotations

import math
from typing import Any

from layers.spec import LayerSpec

WIDTH, HEIGHT, PAD = 640, 360, 8


def preview(features: list[dict[str, Any]], spec: LayerSpec) -> str | None:
    """SVG markup for lon/lat GeoJSON features, or None when there is nothing to draw."""
    rings = [(f, part) for f in features if f.get("geometry") for part in _parts(f["geometry"])]
    coords = [c for _, part in rings for c in part[1]]
    if not coords:
        return None
    xs, ys = [c[0] for c in coords], [c[1] for c in coords]
    minx, maxx, miny, maxy = min(xs), max(xs), min(ys), max(ys)
    kx = math.cos(math.radians((miny + maxy) / 2))
    span = max((maxx - minx) * kx, maxy - miny) or 0.001
    scale = min(WIDTH, HEIGHT) / span * 0.95 if span else 1.0

    def xy(c: list[float]) -> str:
        x = PAD + (c[0] - minx) * kx * scale
        y = PAD + (maxy - c[1]) * scale
        return f"{x:.1f},{y:.1f}"

    shapes = []
    for feature, (kind, points) in rings:
        color = _color(spec, feature)
        if kind == "point":
            x, y = xy(points[0]).split(",")
            shapes.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
        else:
            fill = color if kind == "polygon" else "none"
            path = " ".join(xy(c) for c in points)
            shapes.append(
                f'<polyline points="{path}" fill="{fill}" fill-opacity="0.35" '
                f'stroke="{color}" stroke-width="1"/>'
            )
    width = PAD * 2 + (maxx - minx) * kx * scale
    height = PAD * 2 + (maxy - miny) * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="peta / map" style="max-width:100%;background:#f4f6f8">'
        + "".join(shapes)
        + "</svg>"
    )


def _color(spec: LayerSpec, feature: dict[str, Any]) -> str:
    style = spec.style
    if style.category_field:
        value = (feature.get("properties") or {}).get(style.category_field)
        for key, color in style.category_colors:
            if key == value:
                return color
    return style.color


def _parts(geometry: dict[str, Any]) -> list[tuple[str, list[list[float]]]]:
    kind, c = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        return [("point", [c])]
    if kind == "MultiPoint":
        return [("point", [p]) for p in c]
    if kind == "LineString":
        return [("line", c)]
    if kind == "MultiLineString":
        return [("line", part) for part in c]
    if kind == "Polygon":
        return [("polygon", ring) for ring in c[:1]]
    if kind == "MultiPolygon":
        return [("polygon", poly[0]) for poly in c]
    return []
