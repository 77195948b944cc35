"""Spatial questions answered in one call: orchestration over gis.query (the SQL) and the
raster work (zonal statistics) that databases do badly. Imports neither fastapi nor folium."""
