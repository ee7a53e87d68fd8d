"""The fast ``lease(uint256)`` codec agrees with the ABI's own encoding and decoding (the escrow artifact
as built), and falls back to the generic decoder when the struct is not all one-word fields."""

from __future__ import annotations

from eth_abi.abi import encode as abi_encode

from chain.contracts import EscrowClient
from engine.monitoring.services import LeaseViewCodec

ESCROW = "0x" + "11" * 20
PAYER = "0x" + "22" * 20


def codec() -> LeaseViewCodec:
    return LeaseViewCodec(EscrowClient(None, ESCROW))


def test_calldata_is_the_abi_encoding() -> None:
    c = codec()
    lease_id = (int(PAYER, 16) << 64) | 77
    assert c.calldata(lease_id) == c.fn.encode([lease_id])
    assert c.calldata_hex(lease_id) == "0x" + c.fn.encode([lease_id]).hex()


def test_decode_reads_the_fields_by_name() -> None:
    c = codec()
    assert c.positions is not None  # the escrow's LeaseView is all one-word fields
    raw = abi_encode(list(c.fn.output_types), [(PAYER, 9, 123_456, 7, 1_700_000_000, True)])
    got = c.decode(5, raw)
    assert (got.lease_id, got.balance, got.rate_per_second, got.settled_at, got.open) == (
        5,
        123_456,
        7,
        1_700_000_000,
        True,
    )
    c.positions = None  # the generic path gives the same
    assert c.decode(5, raw) == got
