"""One URL picks the chain: ``eth-tester://`` (in-process py-evm), ``http(s)://`` or ``ws(s)://``.

The same :class:`AsyncWeb3` API serves all three; callers build a :class:`ChainConnection` once (at
process start) and pass it down. There is no module-level client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import AsyncWeb3
from web3.exceptions import Web3RPCError
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.providers.persistent import WebSocketProvider
from web3.providers.rpc import AsyncHTTPProvider

from chain.errors import ChainConnectionError


@dataclass
class ChainConnection:
    url: str
    w3: AsyncWeb3[Any]
    chain_id: int
    kind: str  # "eth-tester" | "http" | "ws"

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
        return self.kind in ("http", "ws")


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
