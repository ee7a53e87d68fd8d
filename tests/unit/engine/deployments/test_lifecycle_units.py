"""Pure parts of issue 11's deployment work: the reservation TTL setting, cursors, UTC rendering, the
escrow's fee split (checked against the contract in tests/chain/test_deployment_lifecycle.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.render import iso_utc
from engine.money import Rounding
from engine.pagination import BadCursor, Page, clamp_limit, decode_cursor, encode_cursor
from engine.placement.pricing import ESCROW_FEE_ROUNDING, settlement_split
from engine.settings import SettingsError, load_settings


def test_reservation_ttl_comes_from_the_environment_and_must_be_positive() -> None:
    assert load_settings({}).reservation_ttl == 900
    assert load_settings({"CLOUDMARKET_RESERVATION_TTL": "30"}).reservation_ttl == 30
    with pytest.raises(SettingsError):
        load_settings({"CLOUDMARKET_RESERVATION_TTL": "0"})


@pytest.mark.parametrize("last_id", [1, 7, 2**31 - 1, 2**63 - 1])
def test_cursors_round_trip(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert cursor.isascii() and "=" not in cursor and decode_cursor(cursor) == last_id


@pytest.mark.parametrize("junk", ["", "x", "djE6", "djE6LTE", "djE6MA", "bm9wZQ", "%%%", "v" * 65, "djE6wrM"])
def test_junk_cursors_are_refused(junk: str) -> None:
    with pytest.raises(BadCursor) as info:
        decode_cursor(junk)
    assert info.value.code == "bad_cursor"


def test_a_page_knows_whether_more_follow() -> None:
    assert Page.of([5, 4, 3], 2, lambda x: x) == Page([5, 4], encode_cursor(4))
    assert Page.of([5, 4], 2, lambda x: x) == Page([5, 4], None)
    assert Page.of([], 2, lambda x: x) == Page([], None)
    assert (clamp_limit(None), clamp_limit(0), clamp_limit(10_000)) == (50, 1, 200)


def test_timestamps_render_in_utc_with_the_offset() -> None:
    naive = datetime(2026, 12, 6, 3, 15, 7, 330_000)  # what SQLite hands back
    assert iso_utc(naive) == "2026-12-06T03:15:07.330000+00:00"
    assert iso_utc(naive.replace(tzinfo=UTC)) == iso_utc(naive)
    cet = naive.replace(tzinfo=timezone(timedelta(hours=1)))
    assert iso_utc(cet) == "2026-12-06T02:15:07.330000+00:00"


def test_the_split_at_rate_7_is_the_escrows_not_a_per_second_guess() -> None:
    # the example: rate 7 at 5 %: one second settled alone vs an hour settled at once
    one = settlement_split(7, 1, 500)
    hour = settlement_split(7, 3_600, 500)
    assert one.due == 7 and one.platform_fee + one.provider == 7
    assert hour.due == 25_200 and hour.platform_fee == 1_260 and hour.provider == 23_940
    assert settlement_split(7, 3_600, 500, balance=100).due == 100
    assert ESCROW_FEE_ROUNDING == Rounding.FLOOR  # issue 10: the node's share is never rounded away
    assert settlement_split(1, 1, 2_000).provider == 1
