"""Queries: the only place SQL is composed for both stores (features, filters, tiles)."""
