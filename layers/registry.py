"""A small immutable registry of the catalog, looked up by name."""

from __future__ import annotations

from types import MappingProxyType

from gis.errors import LayerUnknown
from layers.catalog import LAYER_SPECS, RASTER_SPECS
from layers.spec import LayerSpec, RasterSpec

LAYERS: MappingProxyType[str, LayerSpec] = MappingProxyType({s.name: s for s in LAYER_SPECS})
RASTERS: MappingProxyType[str, RasterSpec] = MappingProxyType({s.name: s for s in RASTER_SPECS})


def get_layer(name: str) -> LayerSpec:
    """The spec of a layer, or LayerUnknown naming the known ones."""
    try:
        return LAYERS[name]
    except KeyError:
        raise LayerUnknown(name, tuple(LAYERS)) from None


def get_raster(name: str) -> RasterSpec:
    try:
        return RASTERS[name]
    except KeyError:
        raise LayerUnknown(name, tuple(RASTERS), kind="raster") from None
