"""Deployments: a user's workload spec, quoted, placed and paid for per replica from on-chain escrow.

Layout: ``models`` (tables), ``errors``, ``spec`` (the validated spec and its hash), ``status`` (the status
machine), ``services`` (queries, the plan, recording), ``transactions`` (unsigned escrow txs as data),
``commands`` (the use cases the API calls), ``events`` (the escrow event subscriber), ``stops`` (leases
whose node stopped on chain), ``pause`` (the escrow's emergency pause as commands see it). Scaling,
failover and autoscale live in :mod:`engine.scaling`; managed payers' signed requests in :mod:`engine.relay`.
"""
