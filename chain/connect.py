"""One URL picks the chain: ``eth-tester://`` (in-process py-evm), ``http(s)://`` or ``ws(s)://``.

The same :class:`AsyncWeb3` API serves all three; callers build a :class:`ChainConnection` once (at
process start) and pass it down. There is no module-level client.

Every difference between the backends lives on :class:`ChainConnection` and nowhere else (no caller
branches on :attr:`ChainConnection.kind`):

==================================  ==========================  ==========================================
member                              http / ws                   eth-tester (in-process)
==================================  ==========================  ==========================================
:meth:`~ChainConnection.request`    the provider's JSON answer  web3's formatters, results back to wire
                                                                form, exceptions turned into error answers
:attr:`supports_rpc_batch`          ``True``                    ``False`` (no batch endpoint)
:attr:`pending_tag`                 ``"pending"``               ``"latest"`` (no pending block state)
:attr:`exact_balances_in_eth_call`  ``True``                    ``False``: an ``eth_call``'s gas is charged
                                                                to account 0, so a contract reading
                                                                balances under-reports that account
:attr:`prefunded_key`               ``None``                    the public key of its funded account 0
:meth:`ensure_funded`               no-op                       sends ether from account 0 when empty
==================================  ==========================  ==========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.providers.persistent import WebSocketProvider
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import RPCEndpoint, Wei

from chain.errors import ChainConnectionError

# eth-tester funds the accounts of private keys 1..10; public, dev chains only.
ETH_TESTER_ACCOUNT0_KEY = "0x" + "00" * 31 + "01"
# eth-tester's pre-funded accounts are not our signer; :meth:`ChainConnection.ensure_funded` gives it this.
ETH_TESTER_FUNDING_WEI = 1_000 * 10**18


def to_wire(value: Any) -> Any:
    """Python-typed RPC results (eth-tester through web3's formatters) back to JSON-RPC wire form."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    return value


@dataclass
class ChainConnection:
    url: str
    w3: AsyncWeb3[Any]
    chain_id: int
    kind: str  # "eth-tester" | "http" | "ws" — for logs; behaviour goes through the members below

    async def close(self) -> None:
        provider: Any = self.w3.provider
        if self.kind == "ws":
            try:
                await provider.disconnect()
            except Web3RPCError:
                # web3 re-raises, on disconnect, error answers it could not match to a request (anvil
                # answers an unknown method with ``id: null``); the request itself already failed.
                pass
        elif self.kind == "http":
            await provider.disconnect()

    @property
    def supports_rpc_batch(self) -> bool:
        """Whether the provider takes JSON-RPC batches (``make_batch_request``)."""
        return self.kind in ("http", "ws")

    @property
    def pending_tag(self) -> str:
        """The block tag that includes our own not-yet-mined transactions (eth-tester mines at once and
        keeps no pending state, so ``latest`` there)."""
        return "latest" if self.kind == "eth-tester" else "pending"

    @property
    def exact_balances_in_eth_call(self) -> bool:
        """Whether a contract reading native balances inside ``eth_call`` sees the true values (eth-tester
        charges the call's gas to its account 0, so ``Multicall.getEthBalances`` under-reports it)."""
        return self.kind != "eth-tester"

    @property
    def prefunded_key(self) -> str | None:
        """A funded, publicly known private key the backend itself provides (eth-tester), else ``None``."""
        return ETH_TESTER_ACCOUNT0_KEY if self.kind == "eth-tester" else None

    async def request(self, method: str, params: list[Any]) -> dict[str, Any]:
        """One raw JSON-RPC request; the answer in wire form: ``{"result": ...}`` or ``{"error": {...}}``.

        Never raises for an error answer or a transport failure: both come back as ``{"error": ...}``
        (``chain.jsonrpc`` turns them into results or :class:`~chain.errors.RpcError`)."""
        try:
            if self.kind == "eth-tester":
                # eth-tester's provider speaks Python types, not the wire format: go through web3's
                # request manager (which applies the tester's formatters), then back to wire form.
                return {"result": to_wire(await self.w3.manager.coro_request(RPCEndpoint(method), params))}
            provider: Any = self.w3.provider
            response = await provider.make_request(method, params)
        except Web3RPCError as exc:  # persistent (ws) providers raise error answers instead of returning them
            failure: Any = (exc.rpc_response or {}).get("error") or {}
            return {
                "error": {
                    "code": failure.get("code"),
                    "message": str(failure.get("message", exc)),
                    "data": failure.get("data"),
                }
            }
        except Exception as exc:  # eth-tester and transports raise assorted errors
            return {"error": {"message": f"{exc}", "data": getattr(exc, "data", None)}}
        return (
            response if isinstance(response, dict) else {"error": {"message": f"malformed {response!r:.200}"}}
        )

    async def batch_request(self, calls: list[tuple[str, list[Any]]]) -> Any:
        """One JSON-RPC batch (only when :attr:`supports_rpc_batch`); the provider's raw answer list."""
        provider: Any = self.w3.provider
        return await provider.make_batch_request(calls)

    async def ensure_funded(self, address: str) -> None:
        """Give ``address`` ether to pay gas on a backend whose funded accounts are not ours (eth-tester:
        from its account 0, when ``address`` has none). A no-op on every other chain."""
        if self.kind != "eth-tester":
            return
        w3 = self.w3
        target = w3.to_checksum_address(address)
        if await w3.eth.get_balance(target) > 0:
            return
        accounts = await w3.eth.accounts
        tx = await w3.eth.send_transaction(
            {"from": accounts[0], "to": target, "value": Wei(ETH_TESTER_FUNDING_WEI)}
        )
        await w3.eth.wait_for_transaction_receipt(tx)


async def connect(url: str, *, request_timeout: float = 30.0) -> ChainConnection:
    """Open a connection for ``url`` and read its chain id (proves the endpoint answers)."""
    w3: AsyncWeb3[Any]
    if url.startswith("eth-tester://"):
        w3 = AsyncWeb3(AsyncEthereumTesterProvider())
        kind = "eth-tester"
    elif url.startswith(("http://", "https://")):
        w3 = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": request_timeout}))
        kind = "http"
    elif url.startswith(("ws://", "wss://")):
        try:
            w3 = await AsyncWeb3(WebSocketProvider(url, request_timeout=request_timeout))
        except Exception as exc:  # provider raises assorted OS/websocket errors
            raise ChainConnectionError(url, str(exc)) from exc
        kind = "ws"
    else:
        raise ChainConnectionError(url, "unsupported scheme (eth-tester://, http(s)://, ws(s)://)")
    try:
        chain_id = await w3.eth.chain_id
    except Exception as exc:
        if kind in ("http", "ws"):
            provider: Any = w3.provider
            await provider.disconnect()
        raise ChainConnectionError(url, str(exc)) from exc
    return ChainConnection(url=url, w3=w3, chain_id=int(chain_id), kind=kind)
