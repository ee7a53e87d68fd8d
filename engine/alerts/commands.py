"""Alerts commands: the evaluation tick (``alerts.evaluate``) and the caller's alert settings
(``GET|PUT /api/me/alerts``). Each owns its database transaction."""

from __future__ import annotations

from collections.abc import Sequence

from engine.alerts import services
from engine.alerts.errors import InvalidThresholds
from engine.alerts.models import AlertPreference, AlertSettings, EvaluationResult, utcnow
from engine.autotopup.services import coverage
from engine.context import Context
from engine.monitoring.services import runway_forecasts
from engine.notifications.services import publish_noted
from engine.operator import services as operator
from engine.operator.config import current_settings
from engine.operator.errors import InvalidConfig

PAGE = 500  # accounts per transaction
MIN_STALE_AFTER = 3600  # seconds


def stale_after(ctx: Context) -> int:
    """A forecast older than this is not alerted on: the account is no longer scanned (no wallet, no
    open lease) or the scan has been failing; aging an old forecast would announce runways that ended
    long ago. Ten scan intervals, at least an hour."""
    return max(MIN_STALE_AFTER, int(10 * ctx.settings.scheduler_balance_scan_interval))


async def evaluate_alerts(
    ctx: Context, *, now: int | None = None, reader: services.CoverageReader = coverage
) -> EvaluationResult:
    """One tick: every account's latest forecast against its thresholds (see :mod:`engine.alerts.services`),
    a page of accounts per transaction, forecasts older than :func:`stale_after` left out; then wake the
    SSE streams of the users notified. ``now``
    (unix seconds, default ``ctx.clock()``) fixes the evaluation time and hence the period. Raises nothing
    of its own (database errors as they come)."""
    now = int(ctx.clock().timestamp()) if now is None else now
    period = now // ctx.settings.alert_period
    max_age = stale_after(ctx)
    totals = {"users": 0, "notifications": 0, "conditions": 0, "silenced": 0}
    kinds: dict[str, int] = {}
    after = 0
    while True:
        async with ctx.sessionmaker() as session:
            async with session.begin():
                default = (await current_settings(session, ctx.settings)).low_balance_thresholds
                forecasts = await runway_forecasts(session, after_user_id=after, limit=PAGE)
                if not forecasts:
                    await services.prune(session, period)
                    break
                after = forecasts[-1].user_id
                ids = [f.user_id for f in forecasts]
                prefs = await services.preferences(session, ids)
                done = await services.marked(session, ids, period)
                for forecast in forecasts:
                    if now - forecast.at > max_age:
                        continue
                    totals["users"] += 1
                    cfg = services.settings_of(prefs.get(forecast.user_id), default)
                    thresholds = cfg.thresholds if cfg.enabled else ()
                    found = services.conditions(forecast, thresholds, now)
                    fresh = services.unmarked(forecast.user_id, found, done)
                    if not fresh:
                        continue
                    quiet, loud = services.split(fresh)
                    cov = await reader(session, forecast.user_id) if quiet else None
                    if services.covered(cov, quiet):
                        totals["silenced"] += len(quiet)
                        quiet = []
                    won = await services.claim(session, forecast.user_id, [*quiet, *loud], period)
                    if not won:
                        continue
                    noted = await services.announce(
                        session, forecast.user_id, won, period, services.auto_top_up_note(cov)
                    )
                    totals["conditions"] += len(won)
                    for kind, n in noted.items():
                        if n.created:
                            totals["notifications"] += 1
                            kinds[kind] = kinds.get(kind, 0) + 1
            await publish_noted(ctx.hub, session)
    return EvaluationResult(period=period, kinds=kinds, **totals)


async def alert_settings(ctx: Context, user_id: int) -> AlertSettings:
    """The caller's low-balance alert settings: own thresholds or the operator's default. Raises nothing."""
    async with ctx.sessionmaker() as session:
        default = (await current_settings(session, ctx.settings)).low_balance_thresholds
        pref = (await services.preferences(session, [user_id])).get(user_id)
    return services.settings_of(pref, default)


async def update_alert_settings(
    ctx: Context, user_id: int, *, enabled: bool | None, thresholds: Sequence[int] | None, reset: bool
) -> AlertSettings:
    """Change the caller's alert settings: ``enabled`` (``None``: unchanged), own ``thresholds``
    (``None``: unchanged) or back to the operator's default (``reset``). Validated before anything is
    written.

    Raises :class:`~engine.alerts.errors.InvalidThresholds` (not 1..5 distinct values in 300 s .. 90 d,
    or both thresholds and ``reset``)."""
    if reset and thresholds is not None:
        raise InvalidThresholds("thresholds_seconds", "give thresholds or reset to the default, not both")
    clean: list[int] | None = None
    if thresholds is not None:
        try:
            clean = operator.thresholds(list(thresholds), "thresholds_seconds")
        except InvalidConfig as exc:
            raise InvalidThresholds(exc.field, exc.reason) from exc
    async with ctx.sessionmaker() as session, session.begin():
        pref = await session.get(AlertPreference, user_id)
        if pref is None:
            pref = AlertPreference(user_id=user_id, enabled=True, thresholds=None)
            session.add(pref)
        if enabled is not None:
            pref.enabled = enabled
        if clean is not None:
            pref.thresholds = clean
        if reset:
            pref.thresholds = None
        pref.updated_at = utcnow()
        default = (await current_settings(session, ctx.settings)).low_balance_thresholds
        return services.settings_of(pref, default)


__all__ = ["alert_settings", "evaluate_alerts", "update_alert_settings"]
