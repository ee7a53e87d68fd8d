"""GET /api/chain hands out addresses and ABIs that really work against the chain."""

from __future__ import annotations

import dataclasses

from api.app import create_app
from chain.artifacts import load_artifact
from chain.connect import connect
from chain.devchain import Anvil
from engine.runtime import start_runtime
from engine.settings import Settings
from tests.api.conftest import serve


async def test_chain_info_on_eth_tester(client, eth_runtime):
    resp = await client.get("/api/chain")
    assert resp.status == 200
    body = await resp.json()
    assert body["chain_id"] == eth_runtime.chain.chain_id
    assert body["confirmations"] == 1
    assert body["rpc_url"] == "eth-tester://"
    token = body["contracts"]["CreditToken"]
    assert token["address"] == eth_runtime.manifest.address("CreditToken")
    assert token["abi"] == load_artifact("CreditToken").abi
    contract = eth_runtime.chain.w3.eth.contract(address=token["address"], abi=token["abi"])
    assert await contract.functions.decimals().call() == 6
    assert set(body["contracts"]) >= {"CreditToken", "Multicall"}


async def test_public_rpc_url_setting_wins(eth_runtime):
    runtime = dataclasses.replace(
        eth_runtime, settings=eth_runtime.settings.with_(public_rpc_url="https://rpc.example.org")
    )
    async with serve(create_app(runtime, background=False)) as client:
        body = await (await client.get("/api/chain")).json()
    assert body["rpc_url"] == "https://rpc.example.org"


async def test_chain_info_on_anvil_through_the_advertised_rpc_url(anvil: Anvil, tmp_path, database_url):
    runtime = await start_runtime(
        Settings(data_dir=tmp_path, database_url=database_url, chain_url=anvil.url), spawn_dev_chain=False
    )
    try:
        async with serve(create_app(runtime, background=False)) as client:
            body = await (await client.get("/api/chain")).json()
    finally:
        await runtime.close()
    assert body["rpc_url"] == anvil.url
    assert body["chain_id"] == 31337
    wallet = await connect(body["rpc_url"])  # what a wallet would do with the answer
    try:
        token = body["contracts"]["CreditToken"]
        assert await wallet.w3.eth.get_code(token["address"])
        contract = wallet.w3.eth.contract(address=token["address"], abi=token["abi"])
        assert await contract.functions.decimals().call() == 6
    finally:
        await wallet.close()


async def test_chain_info_has_an_etag_and_answers_304(client):
    first = await client.get("/api/chain")
    etag = first.headers["ETag"]
    assert first.status == 200 and etag.startswith('"') and len(etag) > 10
    again = await client.get("/api/chain", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag and await again.read() == b""
    for other in ('"other"', 'W/"nope", "x"'):
        resp = await client.get("/api/chain", headers={"If-None-Match": other})
        assert resp.status == 200 and await resp.json() == await first.json()
    assert (await client.get("/api/chain", headers={"If-None-Match": f'"x", W/{etag}'})).status == 304
