"""Which router and tokens the swaps room uses: settings on a public chain, the manifest on a dev chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.deploy import DeployedContract, Manifest
from chain.uniswap import parse_swap_tokens
from engine.settings import Settings, SettingsError
from engine.swaps.services import swap_clients_for

CREDIT = "0x" + "11" * 20
ROUTER = "0x" + "22" * 20
USDC = "0x" + "33" * 20


def _manifest(*names: str) -> Manifest:
    return Manifest(
        chain_id=1,
        deployed_at_block=0,
        deployer=CREDIT,
        contracts={
            name: DeployedContract("0x" + f"{i + 1:02x}" * 20, "0x", 0, "", "")
            for i, name in enumerate(names)
        },
    )


def test_settings_name_the_router_and_tokens_and_the_credit_token_joins_as_cmc(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, swap_router_address=ROUTER, swap_tokens=f" USDC={USDC} ,")
    clients = swap_clients_for(settings, _manifest("CreditToken"), None)
    assert clients is not None
    assert clients.router.address.lower() == ROUTER
    assert {k: v.lower() for k, v in clients.tokens.items()} == {"USDC": USDC, "CMC": "0x" + "01" * 20}


def test_malformed_swap_tokens_are_a_settings_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, swap_router_address=ROUTER, swap_tokens="USDC")
    with pytest.raises(SettingsError):
        swap_clients_for(settings, _manifest("CreditToken"), None)
    with pytest.raises(ValueError):
        parse_swap_tokens("USDC=0xnot-an-address")


def test_dev_chain_uses_the_devswap_manifest_entries_and_otherwise_swaps_are_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert swap_clients_for(settings, _manifest("CreditToken"), None) is None
    names = ("CreditToken", "TestStablecoin", "WETH9", "UniswapV2Factory", "UniswapV2Router02")
    clients = swap_clients_for(settings, _manifest(*names), None)
    assert clients is not None
    assert sorted(clients.tokens) == ["CMC", "WETH", "tUSD"]
    assert clients.factory is not None and clients.router.address == "0x" + "05" * 20
