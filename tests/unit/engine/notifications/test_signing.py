"""Webhook signatures (``Cloudmarket-Signature: t=...,v1=...``) and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac

from engine.notifications.delivery import backoff
from engine.notifications.signing import new_secret, sign, verify_signature

BODY = b'{"id":"evt_1","type":"low_balance"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    secret = new_secret()
    header = sign(secret, BODY, 1_700_000_000)
    mac = hmac.new(secret.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"
    assert verify_signature(secret, header, BODY, tolerance=300, now=1_700_000_100)


def test_tampering_a_wrong_secret_and_an_old_timestamp_are_refused() -> None:
    secret = new_secret()
    header = sign(secret, BODY, 1_700_000_000)
    assert not verify_signature(secret, header, BODY + b" ", now=1_700_000_000)
    assert not verify_signature(new_secret(), header, BODY, now=1_700_000_000)
    assert not verify_signature(secret, header, BODY, tolerance=300, now=1_700_000_301)  # a replay
    assert not verify_signature(secret, header, BODY, tolerance=300, now=1_699_999_699)  # from the future
    forged = header.replace("t=1700000000", "t=1700000200")  # a fresh timestamp on an old signature
    assert not verify_signature(secret, forged, BODY, now=1_700_000_200)
    for bad in ("", "t=abc,v1=00", "v1=00", f"t=1700000000,t=1700000000,v1={header[-64:]}"):
        assert not verify_signature(secret, bad, BODY, now=1_700_000_000)


def test_a_rotated_secret_may_send_several_v1_values() -> None:
    old, new = new_secret(), new_secret()
    both = sign(old, BODY, 10) + "," + sign(new, BODY, 10).split(",")[1]
    assert verify_signature(new, both, BODY, now=10)
    assert verify_signature(old, both, BODY, now=10)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 30, 3600).total_seconds() for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert backoff(10_000, 30, 3600).total_seconds() == 3600
