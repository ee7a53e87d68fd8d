"""Which router and tokens this process swaps with (built once by the runtime, kept on the context)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chain.devswap import dev_swap_tokens
from chain.uniswap import SwapClients, parse_swap_tokens, swap_clients
from engine.settings import Settings, SettingsError

if TYPE_CHECKING:
    from chain.deploy import Manifest

CREDIT_SYMBOL = "CMC"


def swap_clients_for(settings: Settings, manifest: Manifest, w3: Any) -> SwapClients | None:
    """Settings first (a public chain: ``swap_router_address`` + ``swap_tokens``, the credit token added
    as ``CMC``; ``swap_adapter_address`` for the ``SwapTopUp`` adapter), else the dev chain's devswap
    deployment named in the manifest (router, tokens, adapter), else ``None`` (no swaps).

    Raises ``SettingsError`` when ``swap_tokens`` is malformed."""
    if settings.swap_router_address:
        try:
            tokens = parse_swap_tokens(settings.swap_tokens)
        except ValueError as exc:
            raise SettingsError("swap_tokens", str(exc)) from exc
        if "CreditToken" in manifest.contracts:
            tokens.setdefault(CREDIT_SYMBOL, manifest.address("CreditToken"))
        return swap_clients(
            w3, settings.swap_router_address, tokens, adapter=settings.swap_adapter_address or None
        )
    tokens = dev_swap_tokens(manifest)
    if tokens and "UniswapV2Router02" in manifest.contracts:
        return swap_clients(
            w3,
            manifest.address("UniswapV2Router02"),
            tokens,
            factory=manifest.address("UniswapV2Factory"),
            adapter=manifest.address("SwapTopUp") if "SwapTopUp" in manifest.contracts else None,
        )
    return None
