"""BatchReader: batched balances equal one-by-one reads, on anvil (JSON-RPC batch) and eth-tester."""

from __future__ import annotations

import pytest
from eth_utils import keccak, to_checksum_address

from chain.errors import BatchReadError, ChainError, ContractRevert
from chain.reads import BatchReader
from chain.reverts import revert_class
from tests.chain.conftest import Suite, mint_many

N = 500


def _addresses(tag: str, n: int) -> list[str]:
    return [to_checksum_address(keccak(text=f"{tag}-{i}")[-20:]) for i in range(n)]


@pytest.fixture(scope="session")
async def funded(suite: Suite) -> tuple[Suite, list[str], list[int], int]:
    """500 addresses minted distinct amounts; returns (suite, addresses, amounts, block before minting)."""
    addresses = _addresses(f"reads-{suite.conn.kind}", N)
    amounts = [1_000_000 + 7 * i for i in range(N)]
    before = int(await suite.conn.w3.eth.block_number)
    await mint_many(suite, list(zip(addresses, amounts, strict=True)))
    return suite, addresses, amounts, before


async def test_token_balances_match_one_by_one(funded: tuple[Suite, list[str], list[int], int]) -> None:
    suite, addresses, amounts, _ = funded
    token = suite.token
    async with BatchReader(suite.conn, suite.manifest.address("Multicall"), chunk_size=128) as reader:
        assert reader.mode == ("rpc-batch" if suite.conn.kind == "http" else "multicall")
        batched = await reader.token_balances(token.address, addresses)
    one_by_one = [await token.balance_of(a) for a in addresses]
    assert batched == one_by_one == amounts


async def test_token_balances_at_a_past_block(funded: tuple[Suite, list[str], list[int], int]) -> None:
    suite, addresses, _, before = funded
    async with BatchReader(suite.conn, suite.manifest.address("Multicall")) as reader:
        assert await reader.token_balances(suite.token.address, addresses[:50], block=before) == [0] * 50


async def test_eth_balances_match_one_by_one(suite: Suite) -> None:
    w3 = suite.conn.w3
    addresses = [*(await w3.eth.accounts)[:3], suite.signer.address, *_addresses("eth", 20)]
    async with BatchReader(suite.conn, suite.manifest.address("Multicall")) as reader:
        batched = await reader.eth_balances(addresses)
    assert batched == [await w3.eth.get_balance(a) for a in addresses]
    assert batched[0] > 0


async def test_per_item_failures_are_named(suite: Suite) -> None:
    """balanceOf on an account without code answers empty data: that item fails, the others do not."""
    token = suite.token
    no_code = _addresses("no-code", 1)[0]
    async with BatchReader(suite.conn, suite.manifest.address("Multicall")) as reader:
        answers = await reader.call_many(
            [
                (token.address, token.encode("totalSupply")),
                (token.address, token.encode_mint(no_code, 1, b"\x01" * 32)),  # caller lacks MINTER_ROLE
                (no_code, token.encode("totalSupply")),
            ]
        )
        assert isinstance(answers[0], bytes) and len(answers[0]) == 32
        assert isinstance(answers[1], revert_class("AccessControlUnauthorizedAccount"))
        assert answers[2] == b""
        with pytest.raises(BatchReadError) as caught:
            await reader.token_balances(no_code, [suite.signer.address, no_code])
    assert set(caught.value.failures) == {0, 1}
    assert all(
        isinstance(err, ChainError) and not isinstance(err, ContractRevert)
        for _, err in caught.value.failures.values()
    )


async def test_multicall_path_on_http_gives_same_numbers(
    funded: tuple[Suite, list[str], list[int], int],
) -> None:
    """Force the multicall path on anvil too: both transports agree."""
    suite, addresses, amounts, _ = funded
    async with BatchReader(
        suite.conn, suite.manifest.address("Multicall"), multicall_chunk=64, transport="multicall"
    ) as reader:
        assert reader.mode == "multicall"
        assert await reader.token_balances(suite.token.address, addresses) == amounts


async def test_without_multicall_non_http_refuses(tester_conn) -> None:
    async with BatchReader(tester_conn) as reader:
        with pytest.raises(ChainError, match="multicall_address"):
            await reader.token_balances(_addresses("token", 1)[0], [_addresses("x", 1)[0]])
