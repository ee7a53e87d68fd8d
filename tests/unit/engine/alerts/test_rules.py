"""The alert rules on forecasts (pure): the most severe threshold crossed, aging by the forecast's own
rule, closing deployments, and what auto top-up covers."""

from __future__ import annotations

from engine.alerts.models import ACCOUNT, CLOSING, Condition
from engine.alerts.services import conditions, covered, gap, human
from engine.autotopup.models import Coverage
from engine.money import CreditUnits
from engine.monitoring.models import DeploymentRunway, RunwayForecast

H, D = 3600, 86_400
THRESHOLDS = (7 * D, D, 6 * H)


def forecast(account: int | None, deployments: dict[int, int | None], at: int = 1_000) -> RunwayForecast:
    return RunwayForecast(
        user_id=1,
        at=at,
        burn_rate_per_second=CreditUnits(10),
        runway_seconds=account,
        deployments={
            d: DeploymentRunway(d, CreditUnits(0), CreditUnits(5), r) for d, r in deployments.items()
        },
    )


def test_each_subject_announces_its_most_severe_threshold_and_marks_all_it_crossed() -> None:
    found = conditions(forecast(20 * H, {1: 5 * H, 2: 8 * D, 3: None}), THRESHOLDS, now=1_000)
    assert [(c.subject, c.threshold, c.crossed) for c in found] == [
        (ACCOUNT, D, (7 * D, D)),
        ("deployment:1", 6 * H, (7 * D, D, 6 * H)),
    ]


def test_the_forecast_ages_to_the_evaluation_time_and_a_spent_deployment_is_closing() -> None:
    # 25 h left at the scan; two hours later 23 h: under 24 h. Deployment 1 ran out in between.
    found = conditions(forecast(25 * H, {1: H}), THRESHOLDS, now=1_000 + 2 * H)
    by = {c.subject: c for c in found}
    assert (by[ACCOUNT].threshold, by[ACCOUNT].runway_seconds) == (D, 23 * H)
    assert (by["deployment:1"].threshold, by["deployment:1"].runway_seconds) == (CLOSING, 0)
    # nothing burns: no alert; no thresholds (alerts off): only closing deployments
    assert conditions(forecast(None, {}), THRESHOLDS, now=1_000) == []
    assert [c.subject for c in conditions(forecast(H, {1: 0, 2: H}), (), now=1_000)] == ["deployment:1"]


def test_auto_top_up_covers_only_when_healthy_and_its_cap_holds_the_gap() -> None:
    low = Condition("deployment:1", D, 20 * H, CreditUnits(5), (7 * D, D))
    assert gap(low, 2 * D) == 5 * (2 * D - 20 * H)
    need = gap(low, 2 * D)
    assert covered(Coverage(True, D, 2 * D, CreditUnits(need)), [low])
    assert not covered(Coverage(True, D, 2 * D, CreditUnits(need - 1)), [low])
    assert not covered(Coverage(False, D, 2 * D, CreditUnits(10**12)), [low])
    assert not covered(None, [low])


def test_durations_read_like_a_person_wrote_them() -> None:
    said = [human(s) for s in (59, 90 * 60, 5 * H, D, D + 3 * H)]
    assert said == ["0 min", "1 h 30 min", "5 h", "1 d", "1 d 3 h"]
