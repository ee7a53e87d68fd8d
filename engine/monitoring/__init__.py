"""Balance monitoring: a batched scan of every watched account's credit, native balance and open leases,
the runway computed from them, and downsampled snapshots for history (issue 12).

* :mod:`~engine.monitoring.models` — the ``balance_snapshots`` table and the value types (runways, points).
* :mod:`~engine.monitoring.services` — runway arithmetic, the batched chain read, storage, downsampling,
  :func:`~engine.monitoring.services.runway_forecast` (what alert rules call).
* :mod:`~engine.monitoring.commands` — :func:`~engine.monitoring.commands.scan_balances` (the job's tick),
  :func:`~engine.monitoring.commands.balance_history`, :func:`~engine.monitoring.commands.account_runway_now`.
* :mod:`~engine.monitoring.jobs` — the scheduler binding (``monitoring.balance_scan``).
"""
