"""Operator configuration: platform settings and pricing, versioned and audited (see ``services``)."""
