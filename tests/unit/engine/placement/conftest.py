"""Builders for placement tests (plain values, no fixtures with state)."""
