"""Live wallets (issue 14): a mint the indexer records for a user's wallet reaches that user's notifications
SSE stream as ``event: wallet`` (engine.wallets.live), through the real background pipeline: an outbox
mint is sent by the outbox sender, indexed by the indexer, and the hub (LocalHub on SQLite, PostgreSQL
LISTEN/NOTIFY on PostgreSQL) wakes the stream; another user's stream stays silent.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eth_account import Account

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from chain.contracts import CreditTokenClient
from engine.identity.services import link_wallet
from engine.outbox.services import enqueue
from engine.runtime import Runtime, start_runtime
from engine.settings import Settings
from tests.api.conftest import BACKENDS, serve
from tests.conftest import new_database_url

STREAM = "/api/notifications/stream"


@pytest.fixture(params=BACKENDS)
async def fresh_runtime(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runtime]:
    """A runtime of its own (new eth-tester chain and database): the indexer this test starts reads from the
    deployment block, and on the session's shared chain that is every block the earlier API tests mined
    (minutes on py-evm in a full run)."""
    url = new_database_url(request.param, tmp_path_factory, request)
    settings = Settings(data_dir=tmp_path_factory.mktemp("live"), database_url=url, chain_url="eth-tester://")
    runtime = await start_runtime(settings, spawn_dev_chain=False)
    try:
        yield runtime
    finally:
        await runtime.close()


async def test_a_mint_indexed_for_the_users_wallet_pushes_a_wallet_event(
    fresh_runtime: Runtime, tmp_path: Path
) -> None:
    rt = fresh_runtime
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=rt.chain.chain_id)
    dev = DevIssuer(tmp_path)
    app = create_app(rt, identity_options=options)  # background on: outbox sender + indexer
    async with serve(app) as client:
        callers = []
        for name in ("owner", "other"):
            sub = f"dev|live-{name}-{uuid.uuid4().hex[:8]}"
            headers = {"Authorization": f"Bearer {dev.mint(['cloud-user'], sub=sub)}"}
            resp = await client.get("/api/auth/session", headers=headers)
            assert resp.status == 200, await resp.text()
            callers.append((int((await resp.json())["user_id"]), headers))
        (owner_id, owner), (_other_id, other) = callers
        address = str(Account.create().address)
        async with rt.sessionmaker() as session:
            await link_wallet(session, owner_id, address)

        async def read_stream(headers: dict[str, str]) -> str:
            resp = await client.get(f"{STREAM}?max_seconds=20", headers=headers)
            assert resp.status == 200
            text = ""
            async for chunk in resp.content.iter_any():
                text += chunk.decode()
                if "event: wallet" in text:
                    break
            resp.close()
            return text

        owner_stream = asyncio.create_task(read_stream(owner))
        other_stream = asyncio.create_task(read_stream(other))
        await asyncio.sleep(0.3)  # both streams subscribed

        token = CreditTokenClient(rt.chain.w3, rt.manifest.address("CreditToken"))
        ref = secrets.token_bytes(32)
        async with rt.sessionmaker() as session, session.begin():
            await enqueue(
                session,
                kind="mint",
                to=token.address,
                data=token.encode_mint(address, 1_234_567, ref),
                idempotency_key=f"live-wallet-{ref.hex()}",
                args={"to": address},
            )
        text = await asyncio.wait_for(owner_stream, 30)
        block = next(b for b in text.split("\n\n") if "event: wallet" in b)
        fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
        assert fields["event"] == "wallet"
        assert fields["id"].isdigit()  # the stream position (last notification id), unchanged
        data = json.loads(fields["data"])
        assert isinstance(data["block"], int) and data["block"] > 0
        # the balance the console re-reads on it already shows the mint
        got = await (await client.get("/api/wallet", headers=owner)).json()
        assert int(got["credit_units"]) == 1_234_567

        # the other user's stream got no wallet event (it ends at max_seconds; cancel it instead)
        await asyncio.sleep(0.5)
        assert not other_stream.done()
        other_stream.cancel()
