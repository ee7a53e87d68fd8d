"""Request and response schemas of the API routes (JSON Schema 2020-12) and the renderers that produce
those responses, one module per route module."""
