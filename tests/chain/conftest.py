"""Chain fixtures: connections to the session anvil and to eth-tester, and the suite deployed on each.

``suite`` is parametrized over both chains (session scope: deployed once per chain); tests that take it
run twice. Helpers mint through real signed transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient
from chain.deploy import Manifest, deploy_suite, suggest_fees
from chain.devchain import Anvil, dev_signer_key
from chain.jsonrpc import RpcClient
from chain.signer import LocalSigner, TxRequest

CHAINS = ["anvil", "eth-tester"]
MINT_GAS = 150_000


@dataclass
class Suite:
    conn: ChainConnection
    signer: LocalSigner
    manifest: Manifest
    manifest_dir: Path

    @property
    def token(self) -> CreditTokenClient:
        return CreditTokenClient(self.conn.w3, self.manifest.address("CreditToken"))


@pytest.fixture(scope="session")
async def anvil_conn(anvil: Anvil) -> AsyncIterator[ChainConnection]:
    conn = await connect(anvil.url)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def tester_conn() -> AsyncIterator[ChainConnection]:
    conn = await connect("eth-tester://")
    yield conn
    await conn.close()


@pytest.fixture(scope="session", params=CHAINS)
async def chain_conn(request: pytest.FixtureRequest) -> AsyncIterator[ChainConnection]:
    """A connection to each dev chain in turn (the session anvil over HTTP, an eth-tester chain)."""
    if request.param == "anvil":
        node: Anvil = request.getfixturevalue("anvil")
        conn = await connect(node.url)
    else:
        conn = await connect("eth-tester://")
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def suite(chain_conn: ChainConnection, tmp_path_factory: pytest.TempPathFactory) -> Suite:
    conn = chain_conn
    manifest_dir = tmp_path_factory.mktemp(f"manifests-{conn.kind}")
    signer = LocalSigner(dev_signer_key(conn))
    manifest = await deploy_suite(conn, signer, manifest_dir=manifest_dir)
    return Suite(conn, signer, manifest, manifest_dir)


_ref_counter = iter(range(1, 10**9))


def fresh_ref() -> bytes:
    """A mint reference never used before in this test session."""
    return (0xC0FFEE << 200 | next(_ref_counter)).to_bytes(32, "big")


async def mint_many(suite: Suite, grants: Sequence[tuple[str, int]]) -> None:
    """Mint ``amount`` to each address with signed transactions (one JSON-RPC batch over HTTP)."""
    conn, signer, token = suite.conn, suite.signer, suite.token
    nonce = int(await conn.w3.eth.get_transaction_count(signer.address, "pending"))
    max_fee, tip = await suggest_fees(conn)
    raws = [
        signer.sign(
            TxRequest(
                chain_id=conn.chain_id,
                nonce=nonce + i,
                to=token.address,
                data=token.encode_mint(to, amount, fresh_ref()),
                value=0,
                gas=MINT_GAS,
                max_fee_per_gas=max_fee,
                max_priority_fee_per_gas=tip,
            )
        )
        for i, (to, amount) in enumerate(grants)
    ]
    if conn.kind == "http":
        async with RpcClient(conn.url) as client:
            answers = await client.batch([("eth_sendRawTransaction", ["0x" + s.raw.hex()]) for s in raws])
        errors = [a.message for a in answers if not a.ok]
        assert not errors, errors[:3]
    else:
        for signed in raws:
            await conn.w3.eth.send_raw_transaction(signed.raw)
    # Nonces are consecutive: once the last one is mined, all are. (Waiting on each receipt is quadratic
    # on eth-tester, which looks receipts up block by block from the head.) Callers check the balances.
    receipt = await conn.w3.eth.wait_for_transaction_receipt(raws[-1].hash, poll_latency=0.02)
    assert receipt["status"] == 1
    assert await conn.w3.eth.get_transaction_count(signer.address) == nonce + len(raws)
