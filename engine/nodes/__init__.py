"""Provider nodes (minimal table here; issue #5 extends it)."""
