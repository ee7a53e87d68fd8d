"""Low-balance alerts (issue 12): runway thresholds per account and per deployment, evaluated from the
monitoring forecast, silent while auto top-up is healthy and covers the gap, one notification per user,
condition kind and evaluation, never twice for a condition in one alert period.

* :mod:`~engine.alerts.models` — ``alert_preferences`` (per-user override) and ``alert_marks`` (which
  condition was alerted in which period), and the value types.
* :mod:`~engine.alerts.services` — the rules: thresholds, conditions from a forecast, coverage, grouping.
* :mod:`~engine.alerts.commands` — :func:`~engine.alerts.commands.evaluate_alerts` (the job's tick),
  :func:`~engine.alerts.commands.alert_settings`, :func:`~engine.alerts.commands.update_alert_settings`.
* :mod:`~engine.alerts.jobs` — the scheduler binding (``alerts.evaluate``).
"""
