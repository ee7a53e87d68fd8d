"""The indexer's quote check (issue 10): a LeaseOpened is compared with the lease row's quoted terms."""

from __future__ import annotations

from typing import Any

from engine.deployments import models as m
from engine.deployments.quotecheck import discounted_rate, mismatch
from engine.indexer.interfaces import IndexedEvent

SPEC = "0x" + "ab" * 32


def opened(**args: Any) -> IndexedEvent:
    base = {"leaseId": "9", "payer": "0x" + "11" * 20, "nodeId": "3", "ratePerSecond": "1000"}
    base |= {"deposit": "50000", "specHash": SPEC, "discountBps": "0"}
    return IndexedEvent(
        31337, 5, "0x" + "00" * 32, "0x" + "01" * 32, 0, "DeploymentEscrow", "0x" + "22" * 20,
        "LeaseOpened", base | {k: str(v) for k, v in args.items()}, None, True,
    )  # fmt: skip


def rows() -> tuple[m.Deployment, m.Lease]:
    return m.Deployment(spec_hash=SPEC), m.Lease(chain_node_id=3, rate_per_second=1000)


def test_the_quoted_lease_matches_with_and_without_the_payers_discount() -> None:
    dep, lease = rows()
    assert mismatch(dep, lease, opened()) is None
    assert discounted_rate(1000, 2_500) == 750 and discounted_rate(999, 1) == 999  # rounded up, as on chain
    assert mismatch(dep, lease, opened(ratePerSecond=750, discountBps=2_500)) is None
    assert mismatch(dep, lease, opened(specHash=SPEC.upper().replace("0X", "0x"))) is None


def test_another_rate_node_or_spec_is_named() -> None:
    dep, lease = rows()
    assert "rate 1/s" in (mismatch(dep, lease, opened(ratePerSecond=1)) or "")
    assert "rate 749/s" in (mismatch(dep, lease, opened(ratePerSecond=749, discountBps=2_500)) or "")
    assert "node 4" in (mismatch(dep, lease, opened(nodeId=4)) or "")
    assert "spec" in (mismatch(dep, lease, opened(specHash="0x" + "cd" * 32)) or "")
    assert "discount 10001" in (mismatch(dep, lease, opened(discountBps=10_001)) or "")


def test_an_open_mined_after_the_stored_quote_expiry_is_not_the_quoted_lease() -> None:
    dep, lease = rows()
    lease.quote_expiry = 1_000
    assert mismatch(dep, lease, opened(), opened_at=1_000) is None  # inclusive, as the escrow checks
    assert "after its quote expired at 1000" in (mismatch(dep, lease, opened(), opened_at=1_001) or "")
    assert mismatch(dep, lease, opened(), opened_at=None) is None  # block time unknown: terms only
    lease.quote_expiry = None  # a row from before quote expiries were stored: terms only
    assert mismatch(dep, lease, opened(), opened_at=10**9) is None
