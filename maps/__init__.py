"""Folium map builders for citizens (bilingual legend, assets served locally).

Filled by the citizen-maps work; the package exists so the layout's arrows are fixed:
maps/ may import gis.query and layers/, never the reverse.
"""
