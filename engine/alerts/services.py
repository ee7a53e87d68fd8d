"""The alert rules (pure where possible) and their storage.

Rules
    * **Thresholds**: the user's own (``alert_preferences``) or the operator's default
      (:attr:`engine.operator.config.OperatorSettings.low_balance_thresholds`), seconds of runway,
      descending.
    * **Conditions** come from the monitoring forecast
      (:func:`engine.monitoring.services.runway_forecasts`; the runway is never recomputed here, only aged
      to the evaluation time with the forecast's own rule, :meth:`RunwayForecast.remaining_at`): the
      account (wallet credit pooled with its leases) and each deployment (its shortest lease) below a
      threshold. A subject announces only its most severe threshold crossed, and marks every one it
      crossed, so a runway falling from 8 days to 5 hours is one alert, not three. A deployment whose
      runway is gone is *closing* (threshold ``0``): its leases can be closed by anyone.
    * **Auto top-up**: while the user's rule is healthy and its monthly cap still holds what the top-ups
      would cost (each condition's gap: ``burn * (target - runway)``), low-balance conditions stay quiet
      and are not marked, so they are announced as soon as the rule fails or the cap runs short. A failed
      top-up is announced by the auto top-up room itself (``auto_top_up_failed``, straight through
      :func:`engine.notifications.services.notify`, whatever the user's alert settings): these rules
      neither filter nor repeat it. Closing deployments are always announced.
    * **Once per condition per period** (``period = now // alert_period``): a condition is announced in
      the transaction that inserts its marks (insert-or-nothing); a second evaluation in the same period,
      even a concurrent one, finds them and stays quiet.
    * **Grouped**: one evaluation makes at most one notification per user and kind (``low_balance`` for
      the account, ``runway_low`` and ``deployment_closing`` listing every deployment), so 50 deployments
      crossing in one scan, or closing, are one notification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.alerts.models import (
    ACCOUNT,
    CLOSING,
    DEPLOYMENT_CLOSING,
    LOW_BALANCE,
    RUNWAY_LOW,
    AlertMark,
    AlertPreference,
    AlertSettings,
    Condition,
    deployment_subject,
)
from engine.autotopup.models import Coverage
from engine.money import CreditUnits
from engine.monitoring.models import RunwayForecast
from engine.notifications.services import Notified, notify

CoverageReader = Callable[[AsyncSession, int], Awaitable[Coverage | None]]


# ---- settings -----------------------------------------------------------------------------------------


async def preferences(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, AlertPreference]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(AlertPreference).where(AlertPreference.user_id.in_(list(user_ids))))
    return {r.user_id: r for r in rows}


def settings_of(pref: AlertPreference | None, operator_default: Sequence[int]) -> AlertSettings:
    default = tuple(operator_default)
    if pref is None:
        return AlertSettings(True, default, False, default)
    own = tuple(pref.thresholds) if pref.thresholds is not None else None
    return AlertSettings(bool(pref.enabled), own or default, own is not None, default)


# ---- conditions (pure) --------------------------------------------------------------------------------


def _condition(
    subject: str, runway: int | None, burn: int, thresholds: Sequence[int], *, closing: bool
) -> Condition | None:
    if runway is None:
        return None
    if closing and runway <= 0:
        return Condition(subject, CLOSING, 0, CreditUnits(burn), (*thresholds, CLOSING))
    crossed = tuple(t for t in thresholds if runway < t)
    if not crossed:
        return None
    return Condition(subject, min(crossed), runway, CreditUnits(burn), crossed)


def conditions(forecast: RunwayForecast, thresholds: Sequence[int], now: int) -> list[Condition]:
    """The account's and its deployments' conditions at ``now`` (unix seconds), from ``forecast`` aged
    by :meth:`RunwayForecast.remaining_at`'s rule. ``thresholds`` empty: only closing deployments."""
    elapsed = max(0, now - forecast.at)
    out: list[Condition] = []
    account = _condition(
        ACCOUNT, forecast.remaining_at(now), forecast.burn_rate_per_second, thresholds, closing=False
    )
    if account is not None:
        out.append(account)
    for dep_id in sorted(forecast.deployments):
        dep = forecast.deployments[dep_id]
        left = None if dep.runway_seconds is None else max(0, dep.runway_seconds - elapsed)
        cond = _condition(
            deployment_subject(dep_id), left, dep.burn_rate_per_second, thresholds, closing=True
        )
        if cond is not None:
            out.append(cond)
    return out


def gap(condition: Condition, target_seconds: int) -> CreditUnits:
    """What auto top-up would spend to bring the subject's runway to ``target_seconds``."""
    return CreditUnits(condition.burn_rate_per_second * max(0, target_seconds - condition.runway_seconds))


def covered(coverage: Coverage | None, quiet: Sequence[Condition]) -> bool:
    """Whether a healthy auto top-up rule can pay for every condition in ``quiet`` out of its cap."""
    if coverage is None or not coverage.healthy or not quiet:
        return False
    return coverage.cap_remaining >= sum(gap(c, coverage.target_seconds) for c in quiet)


# ---- marks --------------------------------------------------------------------------------------------


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def marked(session: AsyncSession, user_ids: Sequence[int], period: int) -> set[tuple[int, str, int]]:
    """(user, subject, threshold) already announced in ``period``."""
    if not user_ids:
        return set()
    rows = await session.execute(
        select(AlertMark.user_id, AlertMark.subject, AlertMark.threshold).where(
            AlertMark.period == period, AlertMark.user_id.in_(list(user_ids))
        )
    )
    return {(u, s, int(t)) for u, s, t in rows.all()}


async def claim(
    session: AsyncSession, user_id: int, items: Sequence[Condition], period: int
) -> list[Condition]:
    """Insert the marks of ``items`` (every crossed threshold) unless present; returns the conditions
    whose announced (most severe) threshold this call marked, i.e. the ones to announce."""
    values = [
        {"user_id": user_id, "subject": c.subject, "threshold": t, "period": period}
        for c in items
        for t in c.crossed
    ]
    if not values:
        return []
    stmt = (
        _insert(session)(AlertMark)
        .values(values)
        .on_conflict_do_nothing(index_elements=["user_id", "subject", "threshold", "period"])
        .returning(AlertMark.subject, AlertMark.threshold)
    )
    won = {(s, int(t)) for s, t in (await session.execute(stmt)).all()}
    return [c for c in items if (c.subject, c.threshold) in won]


async def link(
    session: AsyncSession, user_id: int, items: Iterable[Condition], period: int, notification_id: int
) -> None:
    for c in items:
        mark = await session.get(AlertMark, (user_id, c.subject, c.threshold, period))
        if mark is not None:
            mark.notification_id = notification_id


async def prune(session: AsyncSession, period: int) -> None:
    """Marks of periods before the previous one are no longer read."""
    await session.execute(delete(AlertMark).where(AlertMark.period < period - 1))


# ---- the messages -------------------------------------------------------------------------------------


def human(seconds: int) -> str:
    if seconds >= 86_400:
        days, rest = divmod(seconds, 86_400)
        return f"{days} d {rest // 3600} h" if rest >= 3600 else f"{days} d"
    if seconds >= 3600:
        hours, rest = divmod(seconds, 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    return f"{max(0, seconds) // 60} min"


def _item(c: Condition) -> dict[str, Any]:
    return {
        "deployment_id": c.deployment_id,
        "threshold_seconds": c.threshold,
        "runway_seconds": c.runway_seconds,
        "burn_rate_per_second": c.burn_rate_per_second,
    }


def message(
    kind: str, items: Sequence[Condition], period: int, auto_top_up: str | None
) -> tuple[str, str, dict[str, Any]]:
    """(title, body, data) of the notification announcing ``items`` (all of one ``kind``)."""
    note = f" Auto top-up {auto_top_up}." if auto_top_up else ""
    if kind == LOW_BALANCE:
        (c,) = items
        title = f"Low balance: about {human(c.runway_seconds)} of runway left"
        body = (
            f"Your wallet credit and deployment balances last about {human(c.runway_seconds)} at the "
            f"current burn of {c.burn_rate_per_second} credit units per second (below your "
            f"{human(c.threshold)} alert). Top up to keep your deployments running.{note}"
        )
        data = {
            "scope": "account",
            "threshold_seconds": c.threshold,
            "runway_seconds": c.runway_seconds,
            "burn_rate_per_second": c.burn_rate_per_second,
        }
        return title, body, {**data, "period": period}
    lines = "\n".join(
        f"- deployment {c.deployment_id}: "
        + ("out of funds" if kind == DEPLOYMENT_CLOSING else f"about {human(c.runway_seconds)} left")
        for c in items
    )
    n = len(items)
    plural = "deployment" if n == 1 else "deployments"
    if kind == DEPLOYMENT_CLOSING:
        title = f"{n} {plural} out of funds"
        body = f"These deployments have no runway left; their leases can be closed:\n{lines}\n{note}"
    else:
        title = f"{n} {plural} running low on funds"
        body = f"These deployments are below a runway alert:\n{lines}\nTop them up to keep them running."
        body += note
    data = {"scope": "deployments", "deployments": [_item(c) for c in items], "period": period}
    return title, body.strip(), data


def dedupe_key(kind: str, period: int, items: Sequence[Condition]) -> str:
    digest = hashlib.sha256(
        ",".join(f"{c.subject}@{c.threshold}" for c in sorted(items, key=lambda c: c.subject)).encode()
    ).hexdigest()[:24]
    return f"alert:{kind}:{period}:{digest}"


def kind_of(c: Condition) -> str:
    if c.deployment_id is None:
        return LOW_BALANCE
    return DEPLOYMENT_CLOSING if c.threshold == CLOSING else RUNWAY_LOW


async def announce(
    session: AsyncSession, user_id: int, items: Sequence[Condition], period: int, auto_top_up: str | None
) -> dict[str, Notified]:
    """One notification per kind for ``items`` (already claimed), in the caller's transaction."""
    by_kind: dict[str, list[Condition]] = {}
    for c in items:
        by_kind.setdefault(kind_of(c), []).append(c)
    out: dict[str, Notified] = {}
    for kind in (LOW_BALANCE, RUNWAY_LOW, DEPLOYMENT_CLOSING):
        group = by_kind.get(kind)
        if not group:
            continue
        title, body, data = message(kind, group, period, auto_top_up)
        noted = await notify(session, user_id, kind, dedupe_key(kind, period, group), title, body, data)
        await link(session, user_id, group, period, noted.notification_id)
        out[kind] = noted
    return out


def auto_top_up_note(coverage: Coverage | None) -> str | None:
    if coverage is None:
        return None
    if not coverage.healthy:
        return "is failing: fix the payment method or the on-chain bound"
    return "is on but its monthly cap does not cover this"


def split(items: Sequence[Condition]) -> tuple[list[Condition], list[Condition]]:
    """(conditions auto top-up may cover, closing deployments: always announced)."""
    quiet = [c for c in items if c.threshold != CLOSING]
    loud = [c for c in items if c.threshold == CLOSING]
    return quiet, loud


def unmarked(user_id: int, items: Sequence[Condition], done: set[tuple[int, str, int]]) -> list[Condition]:
    return [c for c in items if (user_id, c.subject, c.threshold) not in done]


def by_user(forecasts: Iterable[RunwayForecast]) -> Mapping[int, RunwayForecast]:
    return {f.user_id: f for f in forecasts}
