"""A provider with an active node and a running node agent, onboarded over the API (the browser flow for the
same steps is its own test): the deploy flow needs a node that really runs what the user deploys.

SIWE link -> a $5 card top-up (API + the wire server's publishable-key confirm, webhook -> credit) ->
register (signed by the provider's own key) -> operator approve (sent by the service's outbox, indexed) ->
add node (signed, indexed) -> node token, one heartbeat -> ``python -m api.cli node run`` agent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from chain.connect import connect
from chain.devchain import rpc
from tests.browser.conftest import Console
from tests.e2e.workloads_support import AgentProcess, Http, Wallet, wait_until

LIMIT = 40.0
NODE_RESOURCES = {"cpu_millicores": 4000, "memory_mb": 8192, "disk_gb": 100, "bandwidth_mbps": 1000}
NODE_PRICES = {"per_cpu_millicore": 2_000, "per_memory_mb": 200, "per_disk_gb": 20, "per_gpu": 0}
HEARTBEAT = {
    "resources": {"cpu_millicores_used": 0, "memory_mb_used": 0, "disk_gb_used": 0},
    "workloads": [],
    "agent": {"version": "browser-test"},
}


async def _credit(http: Http, headers: dict[str, str]) -> int:
    got = await http.call("GET", "/api/wallet", headers, 200)
    return int(got["credit_units"])


async def onboard(console: Console, region: str, root: Path) -> tuple[AgentProcess, dict[str, Any]]:
    wallet = Wallet()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        http = Http(session, console.base)
        conn = await connect(console.rpc_url)
        try:
            await rpc(conn, "anvil_setBalance", wallet.address, hex(10**19))
            headers = {
                "Authorization": "Bearer "
                + console.dev_token(["cloud-provider", "cloud-user"], f"dev|{region}-provider")
            }
            operator = {
                "Authorization": "Bearer " + console.dev_token(["cloud-operator"], "dev|browser-operator")
            }
            await wallet.link(http, headers)

            # collateral credit: a card payment confirmed as Stripe.js would, then the webhook mints it
            intent = await http.call(
                "POST", "/api/payments/create-intent", headers, None, json={"amount_cents": 500}
            )
            assert "client_secret" in intent, intent
            secret = intent["client_secret"]
            form = {
                "key": console.stripe.publishable_key,
                "client_secret": secret,
                "payment_method": "pm_card_visa",
            }
            pid = secret.split("_secret_")[0]
            async with session.post(
                f"{console.stripe.api_base}/v1/payment_intents/{pid}/confirm", data=form
            ) as r:
                assert r.status == 200, await r.text()
            await wait_until(
                "collateral credit", lambda: _credit(http, headers), lambda c: c >= 10**6, LIMIT, 0.2
            )

            body = {
                "wallet": wallet.address,
                "company": f"{region} compute",
                "contact_name": "Ops",
                "contact_email": "ops@provider.test",
                "collateral": 10**6,
            }
            reg = await http.call("POST", "/api/cloud-provider/register", headers, 201, json=body)
            await wallet.send_all(conn, reg["transactions"])
            rid = reg["request"]["id"]
            approve = f"/api/cloud-operator/provider-requests/{rid}/approve"
            await wait_until(
                "approve accepted",
                lambda: http.status_and_json("POST", approve, operator),
                lambda r: r[0] == 200,
                LIMIT,
                every=0.2,
            )

            async def approved() -> list[Any]:
                got = await http.call(
                    "GET", "/api/cloud-operator/provider-requests?status=approved", operator, 200
                )
                return [q for q in got["requests"] if q["id"] == rid and q["chain_status"] == "Approved"]

            await wait_until("approval indexed", approved, bool, LIMIT, every=0.2)
            node_body = {
                "wallet": wallet.address,
                "name": f"{region}-node",
                "region": region,
                "country": "DE",
                "resources": NODE_RESOURCES,
                "prices": NODE_PRICES,
            }
            created = await http.call("POST", "/api/cloud-provider/nodes", headers, 201, json=node_body)
            await wallet.send_all(conn, created["transactions"])

            async def node() -> dict[str, Any]:
                listed = await http.call("GET", "/api/cloud-provider/nodes", headers, 200)
                (mine,) = [x for x in listed["nodes"] if x["id"] == created["id"]]
                return dict(mine)

            got = await wait_until(
                "node active", node, lambda x: x["status"] == "active" and x["chain_node_id"], LIMIT, 0.2
            )
            issued = await http.call("POST", f"/api/cloud-provider/nodes/{got['id']}/tokens", headers, 201)
            beat = f"/api/cloud-provider/nodes/{got['id']}/heartbeat"
            await http.call("POST", beat, {"Authorization": f"Bearer {issued['token']}"}, 200, json=HEARTBEAT)
            agent = AgentProcess(
                console.base, got["id"], issued["token"], root / f"agent-{region}" / "state", wait=2
            )
            return agent, got
        finally:
            await conn.close()


def onboard_sync(console: Console, region: str, root: Path) -> tuple[AgentProcess, dict[str, Any]]:
    return asyncio.run(onboard(console, region, root))
