"""``GET|PUT /api/cloud-provider/nodes/{node_id}/sla-endpoint``: the host the SLA prober checks a provider's
node's workloads on. A DNS name or an IP literal only (no URL, port or path; bounded length), the caller's
own node only; a refused PUT changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve


async def test_a_provider_sets_and_reads_its_nodes_probe_host_and_nothing_else(
    eth_runtime: Runtime, tmp_path: Path
) -> None:
    options = identity.IdentityOptions(
        env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id, dev_issuer=True
    )
    dev = DevIssuer(tmp_path)
    mine = {"Authorization": "Bearer " + dev.mint(["cloud-provider"], sub="dev|sla-endpoint-1")}
    other = {"Authorization": "Bearer " + dev.mint(["cloud-provider"], sub="dev|sla-endpoint-2")}
    async with serve(create_app(eth_runtime, background=False, identity_options=options)) as client:

        async def call(method: str, path: str, headers: dict[str, str], status: int, **kw: Any) -> Any:
            resp = await client.request(method, path, headers=headers, **kw)
            assert resp.status == status, await resp.text()
            return await resp.json()

        node = await call("POST", "/api/cloud-provider/nodes", mine, 201, json={"name": "probe-me"})
        url = f"/api/cloud-provider/nodes/{node['id']}/sla-endpoint"
        assert await call("GET", url, mine, 200) == {"node_id": node["id"], "host": None, "updated_at": None}

        for bad in (
            "http://node.example.com",
            "node.example.com:8080",
            "node.example.com/health",
            "[2001:db8::1]",
            "1.2.3",
            "-x.example.com",
            "a" * 254,
        ):
            err = await call("PUT", url, mine, 400, json={"host": bad})
            assert err["error"]["code"] in ("invalid_endpoint", "invalid_request"), err
        assert (await call("GET", url, mine, 200))["host"] is None

        done = await call("PUT", url, mine, 200, json={"host": "Node-1.Example.com"})
        assert (done["host"], done["node_id"]) == ("node-1.example.com", node["id"]) and done["updated_at"]
        await call("PUT", url, mine, 200, json={"host": "2001:db8:0::1"})
        assert (await call("GET", url, mine, 200))["host"] == "2001:db8::1"

        # another provider's node: not found, for reading and for writing; nothing changed
        assert (await call("GET", url, other, 404))["error"]["code"] == "not_found"
        await call("PUT", url, other, 404, json={"host": "evil.example"})
        assert (await call("GET", url, mine, 200))["host"] == "2001:db8::1"
