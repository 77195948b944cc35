"""Vector tiles as a product: rendering through the store, the tile cache, seeding and
export. The SQL lives in gis.query.tiles; the HTTP side in api.routes.tiles."""
