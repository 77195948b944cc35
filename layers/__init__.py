"""The layer catalog: declarative specs that every schema, validation and style derives from."""

from layers.registry import LAYERS, RASTERS, get_layer, get_raster
from layers.spec import Bilingual, Field, LayerSpec, RasterSpec, Style

__all__ = [
    "LAYERS",
    "RASTERS",
    "Bilingual",
    "Field",
    "LayerSpec",
    "RasterSpec",
    "Style",
    "get_layer",
    "get_raster",
]
