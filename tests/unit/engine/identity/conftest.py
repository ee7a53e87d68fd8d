"""SIWE fixtures: a service with a hand-driven clock, and helpers to build and sign messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from engine.identity.siwe import SiweConfig, SiweService
from engine.identity.siwe_message import SiweMessage

DOMAIN = "app.cloudmarket.test"
URI = "https://app.cloudmarket.test"
CHAIN_ID = 31337
T0 = 1_700_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(account: LocalAccount, nonce: str, t: float = T0, **over: Any) -> str:
    fields: dict[str, Any] = {
        "domain": DOMAIN,
        "address": account.address,
        "uri": URI + "/login",
        "version": "1",
        "chain_id": CHAIN_ID,
        "nonce": nonce,
        "issued_at": iso(t),
        "statement": "Sign in to cloudmarket",
    }
    fields.update(over)
    return SiweMessage(**fields).to_text()


def sign(account: LocalAccount, text: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=text)).signature.hex()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def siwe(clock: Clock) -> SiweService:
    return SiweService(SiweConfig(domain=DOMAIN, uri=URI, chain_id=CHAIN_ID), clock=clock)


@pytest.fixture
def alice() -> LocalAccount:
    return Account.create()


@pytest.fixture
def bob() -> LocalAccount:
    return Account.create()
