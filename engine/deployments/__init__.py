"""Deployments: a user's workload spec, quoted, placed and paid for per replica from on-chain escrow.

Layout: ``models`` (tables), ``errors``, ``spec`` (the validated spec and its hash), ``status`` (the status
machine), ``services`` (queries, the plan, recording), ``transactions`` (unsigned escrow txs as data),
``commands`` (the use cases the API calls), ``events`` (the escrow event subscriber). Scaling, failover and
autoscale live in :mod:`engine.scaling`; managed payers' signed requests in :mod:`engine.relay`.
"""
