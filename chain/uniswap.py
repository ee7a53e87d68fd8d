"""Uniswap V2: the npm packages' build artifacts and thin typed clients (factory, pair, router, ERC-20).

Artifacts come straight from ``node_modules`` (``@uniswap/v2-core@1.0.1`` for ``UniswapV2Factory`` and
``UniswapV2Pair``, ``@uniswap/v2-periphery@1.1.0-beta.0`` for ``UniswapV2Router02`` and ``WETH9``): the
router there is built with the pair init-code hash of that exact v2-core pair bytecode
(:data:`PAIR_INIT_CODE_HASH`), which :func:`pair_init_code_hash` recomputes and a test checks against the
router's own ``pairFor``.

Like :mod:`chain.contracts`, clients read with ``eth_call`` and build calldata; they never sign or send.
:class:`SwapClients` is what the runtime builds once (dev chain: from the manifest; public chain: from the
``swap_router_address`` / ``swap_tokens`` settings) and hands to the engine's swaps room.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from chain.artifacts import REPO_ROOT, Artifact, load_artifact
from chain.contracts import ContractClient
from chain.errors import ArtifactError

NODE_MODULES = REPO_ROOT / "node_modules"
UNISWAP_ARTIFACTS: dict[str, Path] = {
    "UniswapV2Factory": NODE_MODULES / "@uniswap" / "v2-core" / "build" / "UniswapV2Factory.json",
    "UniswapV2Pair": NODE_MODULES / "@uniswap" / "v2-core" / "build" / "UniswapV2Pair.json",
    "UniswapV2Router02": NODE_MODULES / "@uniswap" / "v2-periphery" / "build" / "UniswapV2Router02.json",
    "WETH9": NODE_MODULES / "@uniswap" / "v2-periphery" / "build" / "WETH9.json",
    "ERC20": NODE_MODULES / "@uniswap" / "v2-core" / "build" / "ERC20.json",
}
# the init-code hash hard-coded in UniswapV2Library.pairFor of the periphery build we deploy
PAIR_INIT_CODE_HASH = bytes.fromhex("96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f")
FEE_NUM, FEE_DEN = 997, 1000  # the pair's 0.3 % fee (UniswapV2Library.getAmountOut)
MAX_UINT256 = 2**256 - 1


def _hex(name: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise ArtifactError(name, "bytecode is not a hex string")
    return bytes.fromhex(value.removeprefix("0x"))


@cache
def uniswap_artifact(name: str) -> Artifact:
    """``name``'s artifact from the Uniswap npm packages (``npm ci`` installs them)."""
    try:
        path = UNISWAP_ARTIFACTS[name]
    except KeyError:
        raise ArtifactError(name, "not a Uniswap V2 artifact we use") from None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(name, f"{path} not found (run `npm ci`)") from exc
    evm = raw.get("evm") or {}
    return Artifact(
        name=name,
        abi=list(raw["abi"]),
        bytecode=_hex(name, (evm.get("bytecode") or {}).get("object", raw.get("bytecode", ""))),
        deployed_bytecode=_hex(name, (evm.get("deployedBytecode") or {}).get("object", "")),
        source_hash="npm:" + path.parent.parent.name,
    )


def contract_artifact(name: str) -> Artifact:
    """The artifact of any contract a manifest may name: ours (``contracts/artifacts``) or Uniswap's."""
    return uniswap_artifact(name) if name in UNISWAP_ARTIFACTS else load_artifact(name)


def pair_init_code_hash() -> bytes:
    """keccak256 of the v2-core pair's creation code: what the factory's CREATE2 salts hash with."""
    return keccak(uniswap_artifact("UniswapV2Pair").bytecode)


def sort_tokens(a: str, b: str) -> tuple[str, str]:
    a, b = to_checksum_address(a), to_checksum_address(b)
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def pair_address(factory: str, a: str, b: str, init_code_hash: bytes = PAIR_INIT_CODE_HASH) -> str:
    """The CREATE2 address of the ``a``/``b`` pair (UniswapV2Library.pairFor)."""
    t0, t1 = sort_tokens(a, b)
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    raw = keccak(b"\xff" + bytes.fromhex(to_checksum_address(factory)[2:]) + salt + init_code_hash)
    return to_checksum_address(raw[12:])


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut (floor; 0.3 % fee on the input)."""
    fee_in = amount_in * FEE_NUM
    return fee_in * reserve_out // (reserve_in * FEE_DEN + fee_in)


class _UniswapClient(ContractClient):
    def __init__(self, w3: Any, address: str) -> None:
        super().__init__(w3, address, artifact=uniswap_artifact(self.artifact_name))


class Erc20Client(_UniswapClient):
    """Any ERC-20 (balance, allowance, approve)."""

    artifact_name = "ERC20"

    async def balance_of(self, account: str) -> int:
        return int((await self.call("balanceOf", to_checksum_address(account)))[0])

    async def allowance(self, owner: str, spender: str) -> int:
        return int(
            (await self.call("allowance", to_checksum_address(owner), to_checksum_address(spender)))[0]
        )

    def encode_approve(self, spender: str, amount: int) -> bytes:
        return self.encode("approve", to_checksum_address(spender), amount)


class FactoryClient(_UniswapClient):
    artifact_name = "UniswapV2Factory"

    async def get_pair(self, a: str, b: str) -> str:
        return to_checksum_address(
            (await self.call("getPair", to_checksum_address(a), to_checksum_address(b)))[0]
        )

    def encode_create_pair(self, a: str, b: str) -> bytes:
        return self.encode("createPair", to_checksum_address(a), to_checksum_address(b))


class PairClient(_UniswapClient):
    artifact_name = "UniswapV2Pair"

    async def token0(self) -> str:
        return to_checksum_address((await self.call("token0"))[0])

    async def reserves(self) -> tuple[int, int]:
        r0, r1, _ = await self.call("getReserves")
        return int(r0), int(r1)


class RouterClient(_UniswapClient):
    artifact_name = "UniswapV2Router02"

    async def factory(self) -> str:
        return to_checksum_address((await self.call("factory"))[0])

    async def weth(self) -> str:
        return to_checksum_address((await self.call("WETH"))[0])

    async def get_amounts_out(self, amount_in: int, path: Sequence[str]) -> list[int]:
        route = [to_checksum_address(p) for p in path]
        return [int(a) for a in (await self.call("getAmountsOut", amount_in, route))[0]]

    def encode_swap_exact_tokens_for_tokens(
        self, amount_in: int, amount_out_min: int, path: Sequence[str], to: str, deadline: int
    ) -> bytes:
        route = [to_checksum_address(p) for p in path]
        return self.encode(
            "swapExactTokensForTokens", amount_in, amount_out_min, route, to_checksum_address(to), deadline
        )

    def encode_add_liquidity(
        self, a: str, b: str, amount_a: int, amount_b: int, to: str, deadline: int
    ) -> bytes:
        return self.encode(
            "addLiquidity",
            to_checksum_address(a),
            to_checksum_address(b),
            amount_a,
            amount_b,
            amount_a,
            amount_b,
            to_checksum_address(to),
            deadline,
        )

    def encode_add_liquidity_eth(self, token: str, amount: int, to: str, deadline: int) -> bytes:
        """``addLiquidityETH``: the ETH side is the transaction's value (wrapped to WETH by the router)."""
        return self.encode(
            "addLiquidityETH",
            to_checksum_address(token),
            amount,
            amount,
            0,
            to_checksum_address(to),
            deadline,
        )


SWAP_REQUEST_FIELDS = [  # ISwapTopUp's EIP-712 SwapRequest (type string in contracts/src/interfaces)
    {"name": "payer", "type": "address"},
    {"name": "leaseId", "type": "uint256"},
    {"name": "path", "type": "address[]"},
    {"name": "amountIn", "type": "uint256"},
    {"name": "amountOutMin", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]


class SwapTopUpClient(ContractClient):
    """Our ``SwapTopUp`` adapter: swap to credit through the router and top up the payer's own lease in one
    transaction; ``...WithPermit`` variants carry the payer's EIP-712 ``SwapRequest`` for a relayer."""

    artifact_name = "SwapTopUp"

    async def nonces(self, payer: str) -> int:
        return int((await self.call("nonces", to_checksum_address(payer)))[0])

    def encode_swap_and_top_up(
        self, path: Sequence[str], amount_in: int, amount_out_min: int, lease_id: int, deadline: int
    ) -> bytes:
        route = [to_checksum_address(p) for p in path]
        return self.encode("swapAndTopUp", route, amount_in, amount_out_min, lease_id, deadline)

    def encode_swap_to_credit(
        self, path: Sequence[str], amount_in: int, amount_out_min: int, deadline: int
    ) -> bytes:
        route = [to_checksum_address(p) for p in path]
        return self.encode("swapToCredit", route, amount_in, amount_out_min, deadline)

    def encode_with_permit(
        self, request: Mapping[str, Any], permit: tuple[Any, ...], signature: bytes
    ) -> bytes:
        """``swapAndTopUpWithPermit`` (``leaseId`` non-zero) or ``swapToCreditWithPermit`` (``leaseId`` 0)."""
        r = request
        req = (
            to_checksum_address(r["payer"]),
            r["leaseId"],
            [to_checksum_address(p) for p in r["path"]],
            r["amountIn"],
            r["amountOutMin"],
            r["nonce"],
            r["deadline"],
        )
        name = "swapAndTopUpWithPermit" if r["leaseId"] else "swapToCreditWithPermit"
        return self.encode(name, req, permit, signature)


@dataclass
class SwapClients:
    """The router and the tokens users may swap between (symbol -> address), built once per process.

    The factory is the router's own (``router.factory()``), read once on first use when not given.
    ``adapter`` is the ``SwapTopUp`` adapter (swap + lease top-up in one transaction; relayed swaps of
    managed wallets), ``None`` where none is deployed or configured."""

    router: RouterClient
    tokens: Mapping[str, str] = field(default_factory=dict)
    factory: FactoryClient | None = None
    adapter: SwapTopUpClient | None = None

    async def get_factory(self) -> FactoryClient:
        if self.factory is None:
            self.factory = FactoryClient(self.router.w3, await self.router.factory())
        return self.factory

    def token(self, symbol: str) -> str | None:
        return self.tokens.get(symbol)

    def erc20(self, address: str) -> Erc20Client:
        return Erc20Client(self.router.w3, address)

    def pair(self, address: str) -> PairClient:
        return PairClient(self.router.w3, address)


def parse_swap_tokens(raw: str) -> dict[str, str]:
    """``"USDC=0xabc..,WETH=0xdef.."`` -> ``{"USDC": "0xAbC..", ...}`` (checksummed). Raises ValueError."""
    tokens: dict[str, str] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        symbol, sep, address = part.partition("=")
        if not sep or not symbol.strip():
            raise ValueError(f"swap token {part!r} is not SYMBOL=0xADDRESS")
        tokens[symbol.strip()] = to_checksum_address(address.strip())
    return tokens


def swap_clients(
    w3: Any,
    router: str,
    tokens: Mapping[str, str],
    factory: str | None = None,
    adapter: str | None = None,
) -> SwapClients:
    return SwapClients(
        router=RouterClient(w3, router),
        tokens={s: to_checksum_address(a) for s, a in tokens.items()},
        factory=FactoryClient(w3, factory) if factory else None,
        adapter=SwapTopUpClient(w3, adapter) if adapter else None,
    )
