"""Auto top-up, one runway policy (issue 12): keep each open lease's runway between a floor and a target,
within a monthly cap, from the user's funding sources in order (wallet credit under the escrow's on-chain
``autoTopUp`` bound; a saved card through an off-session PaymentIntent -> mint -> top-up saga).

* :mod:`~engine.autotopup.models` — rules, claims per (lease, period), card sagas; value types.
* :mod:`~engine.autotopup.services` — :func:`~engine.autotopup.services.coverage` (what alert rules read),
  cap arithmetic, amount planning, the on-chain bound.
* :mod:`~engine.autotopup.commands` — ``set_rule`` / ``get_status`` (the API) and ``tick`` (the job).
* :mod:`~engine.autotopup.jobs` — the scheduler binding (``autotopup.tick``).
"""
