"""connect() schemes, the raw JSON-RPC batch client, and dev-chain controls (chain.devchain.rpc) on anvil."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from eth_utils import keccak, to_checksum_address
from web3.exceptions import TransactionNotFound

from chain.connect import ChainConnection, connect
from chain.devchain import Anvil, dev_signer_key, free_port, rpc
from chain.errors import ChainConnectionError, ChainError, RpcError
from chain.jsonrpc import RpcClient
from chain.signer import LocalSigner

SOMEONE = to_checksum_address(keccak(text="someone")[-20:])


@pytest.fixture
async def snapshot(anvil_conn: ChainConnection) -> AsyncIterator[ChainConnection]:
    """The session anvil, restored to its state before the test (snapshot / revert)."""
    snap = await rpc(anvil_conn, "evm_snapshot")
    try:
        yield anvil_conn
    finally:
        await rpc(anvil_conn, "evm_setAutomine", True)
        assert await rpc(anvil_conn, "evm_revert", snap) is True


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:1", "postgres://x", "127.0.0.1:8545", ""])
async def test_connect_rejects_bad_schemes(url: str) -> None:
    with pytest.raises(ChainConnectionError) as caught:
        await connect(url)
    assert caught.value.url == url


async def test_connect_to_closed_port_fails_cleanly() -> None:
    with pytest.raises(ChainConnectionError):
        await connect(f"http://127.0.0.1:{free_port()}", request_timeout=2)


async def test_ws_connect_to_anvil(anvil: Anvil) -> None:
    conn = await connect(anvil.ws_url)
    try:
        assert conn.kind == "ws" and conn.chain_id == anvil.chain_id
        before = await conn.w3.eth.block_number
        await rpc(conn, "evm_mine")
        assert await conn.w3.eth.block_number == before + 1
        with pytest.raises(RpcError):
            await rpc(conn, "anvil_noSuchMethod")
    finally:
        await conn.close()


async def test_rpc_batch_client_orders_results_and_reports_item_errors(anvil: Anvil) -> None:
    async with RpcClient(anvil.url, chunk_size=3, concurrency=2) as client:
        requests = (
            [("eth_chainId", [])] * 4 + [("eth_noSuchMethod", [])] + [("eth_getBalance", [SOMEONE, "latest"])]
        )
        answers = await client.batch(requests)
        assert [a.unwrap() for a in answers[:4]] == [hex(anvil.chain_id)] * 4
        assert not answers[4].ok and answers[4].method == "eth_noSuchMethod"
        with pytest.raises(RpcError) as raised:
            answers[4].unwrap()
        assert raised.value.method == "eth_noSuchMethod" and raised.value.code is not None
        assert answers[5].unwrap() == "0x0"
        assert await client.batch([]) == []
        assert int(await client.request("eth_blockNumber"), 16) >= 0
        with pytest.raises(RpcError):
            await client.request("eth_noSuchMethod")


async def test_rpc_client_transport_failure_raises() -> None:
    async with RpcClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(RpcError, match="transport"):
            await client.batch([("eth_chainId", [])])


async def test_snapshot_revert_and_set_balance(snapshot: ChainConnection) -> None:
    conn = snapshot
    await rpc(conn, "anvil_setBalance", SOMEONE, hex(12345))
    assert await conn.w3.eth.get_balance(SOMEONE) == 12345
    snap = await rpc(conn, "evm_snapshot")
    await rpc(conn, "anvil_setBalance", SOMEONE, hex(1))
    assert await rpc(conn, "evm_revert", snap) is True
    assert await conn.w3.eth.get_balance(SOMEONE) == 12345


async def test_increase_time_and_mine(snapshot: ChainConnection) -> None:
    conn = snapshot
    before = await conn.w3.eth.get_block("latest")
    await rpc(conn, "evm_increaseTime", 3600)
    await rpc(conn, "evm_mine")
    after = await conn.w3.eth.get_block("latest")
    assert after["number"] == before["number"] + 1
    assert after["timestamp"] >= before["timestamp"] + 3600


async def test_automine_off_then_mine(snapshot: ChainConnection) -> None:
    conn = snapshot
    signer = LocalSigner(dev_signer_key(conn))
    await rpc(conn, "evm_setAutomine", False)
    tx_hash = await conn.w3.eth.send_transaction({"from": signer.address, "to": SOMEONE, "value": 5})
    assert await conn.w3.eth.get_balance(SOMEONE) == 0
    await rpc(conn, "evm_mine")
    receipt = await conn.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert await conn.w3.eth.get_balance(SOMEONE) == 5


async def test_anvil_reorg_replaces_recent_blocks(snapshot: ChainConnection) -> None:
    """anvil_reorg drops the last blocks and their transactions: what the indexer must roll back."""
    conn = snapshot
    signer = LocalSigner(dev_signer_key(conn))
    await rpc(conn, "evm_mine")
    tx_hash = await conn.w3.eth.send_transaction({"from": signer.address, "to": SOMEONE, "value": 9})
    await rpc(conn, "evm_mine")
    head = await conn.w3.eth.get_block("latest")
    kept = await conn.w3.eth.get_block(head["number"] - 2)
    assert await conn.w3.eth.get_balance(SOMEONE) == 9
    await rpc(conn, "anvil_reorg", 2, [])
    new_head = await conn.w3.eth.get_block("latest")
    assert new_head["number"] == head["number"]
    assert new_head["hash"] != head["hash"]
    assert (await conn.w3.eth.get_block(head["number"] - 1))["parentHash"] == kept["hash"]
    assert await conn.w3.eth.get_balance(SOMEONE) == 0
    with pytest.raises(TransactionNotFound):
        await conn.w3.eth.get_transaction_receipt(tx_hash)


async def test_eth_tester_controls_and_dev_key(tester_conn: ChainConnection) -> None:
    signer = LocalSigner(dev_signer_key(tester_conn))
    assert signer.address == (await tester_conn.w3.eth.accounts)[0]
    before = await tester_conn.w3.eth.block_number
    await rpc(tester_conn, "evm_mine")
    assert await tester_conn.w3.eth.block_number == before + 1
    with pytest.raises(RpcError):
        await rpc(tester_conn, "anvil_setBalance", SOMEONE, "0x1")


async def test_dev_signer_key_refuses_unknown_chains(anvil: Anvil) -> None:
    conn = await connect(anvil.url)
    try:
        conn.chain_id = 1  # what a mainnet connection would report
        with pytest.raises(ChainError):
            dev_signer_key(conn)
    finally:
        await conn.close()
