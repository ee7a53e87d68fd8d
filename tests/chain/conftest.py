"""Chain fixtures: connections to the session anvil and to eth-tester, and the suite deployed on each.

``suite`` is parametrized over both chains (session scope: deployed once per chain); tests that take it
run twice. Helpers mint through real signed transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_utils import keccak
from web3.exceptions import TransactionNotFound

from chain.connect import ChainConnection, connect
from chain.contracts import CreditTokenClient
from chain.deploy import Manifest, deploy_suite, suggest_fees
from chain.devchain import Anvil, dev_signer_key, rpc
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
    """A connection to each dev chain in turn (the session anvil over HTTP, an eth-tester chain).

    Not through tests.conftest.SessionCache on purpose: rebuilt at each param switch (a new connection, a
    new suite deployment), as before the cache; sharing one suite across modules coincided with
    intermittent never-mined mints in tests/chain/test_reads.py (cause not found, see mint_many)."""
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
    if conn.kind == "http":
        # The session anvil's dev key also signs for the runtimes other modules start there; a deployer of
        # its own keeps this suite's nonces (mint_many, "no transaction sent" checks) to itself.
        signer = LocalSigner(keccak(text="cloudmarket tests: the session suite's deployer"))
        await rpc(conn, "anvil_setBalance", signer.address, hex(10**24))
    else:
        signer = LocalSigner(dev_signer_key(conn))
    manifest = await deploy_suite(conn, signer, manifest_dir=manifest_dir)
    return Suite(conn, signer, manifest, manifest_dir)


_ref_counter = iter(range(1, 10**9))


def fresh_ref() -> bytes:
    """A mint reference never used before in this test session."""
    return (0xC0FFEE << 200 | next(_ref_counter)).to_bytes(32, "big")


async def mint_many(suite: Suite, grants: Sequence[tuple[str, int]]) -> None:
    """Mint ``amount`` to each address with signed transactions (one JSON-RPC batch over HTTP).

    The suite's deployer is the dev signer, which other runtimes on the session anvil may also use: a
    grant whose nonce another sender took (its transaction replaced ours in the pool) is signed again
    with a fresh nonce, so every grant is minted exactly once (each mint has its own ``ref``)."""
    conn, signer = suite.conn, suite.signer
    pending = list(grants)
    for _attempt in range(5):
        sent = await _send_mints(suite, pending)
        # wait until the signer's mined nonce passes our last one, then see which of ours got in
        last = sent[-1][0]
        mined, still = -1, 0
        for _ in range(6000):
            now = int(await conn.w3.eth.get_transaction_count(signer.address))
            if now > last:
                break
            still = still + 1 if now == mined else 0
            mined = now
            if conn.kind == "http" and still and still % 1500 == 0:  # ~30 s without progress: say why
                pool = await rpc(conn, "txpool_status")
                pending = int(await conn.w3.eth.get_transaction_count(signer.address, "pending"))
                head = await conn.w3.eth.get_block("latest")
                raise AssertionError(
                    f"mints not mined: mined nonce {now}, pending {pending}, ours up to {last}, pool {pool}, "
                    f"head {head['number']} base fee {head.get('baseFeePerGas')}, chain {conn.chain_id} "
                    f"at {conn.url}, token code {len(await conn.w3.eth.get_code(suite.token.address))} bytes"
                )
            if conn.kind == "http" and still and still % 50 == 0:
                # no progress for ~1 s: mine a block in case pending transactions wait for one. In full runs
                # a batch once never mined (cause not found: out-of-order arrival was checked and is not it);
                # if this does not help, the check above fails with what the node reports
                await rpc(conn, "evm_mine")
            await asyncio.sleep(0.02)
        if conn.kind != "http":
            return  # eth-tester: in-process, nobody else sends between our sends (and its receipt lookups
            # walk blocks from the head: checking each would be quadratic)
        missing = []
        for _nonce, raw_hash, grant in sent:
            try:
                receipt = await conn.w3.eth.get_transaction_receipt(raw_hash)
            except TransactionNotFound:
                missing.append(grant)
                continue
            assert receipt["status"] == 1
        if not missing:
            return
        pending = missing
    raise AssertionError(f"{len(pending)} mints never mined")


async def _send_mints(
    suite: Suite, grants: Sequence[tuple[str, int]]
) -> list[tuple[int, bytes, tuple[str, int]]]:
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
    return [(nonce + i, raw.hash, grant) for i, (raw, grant) in enumerate(zip(raws, grants, strict=True))]
