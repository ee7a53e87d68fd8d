"""Scaling a deployment's replicas: by request (``services.scale``), by policy (``autoscale``) and by
failure (``failover``: a dead primary moves onto the reserved backup).

Layout: ``models`` (autoscale policies, failovers), ``errors``, ``services`` (scale up/down),
``autoscale``, ``failover``, ``commands`` (the use cases the API calls), ``jobs`` (the scheduler jobs).
"""
