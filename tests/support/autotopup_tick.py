"""One auto top-up tick in its own process (the crash tests kill it at a failpoint with ``os._exit``):
``python -m tests.support.autotopup_tick --data-dir D --database-url U --chain-url C --stripe-api-base S``.

The runtime reuses the data dir's manifest (the parent's contracts); billing talks to the parent's local
Stripe server. Exit status 0 after the tick; 137 when a failpoint (``CLOUDMARKET_FAILPOINTS``) fired."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from billing.autotopup import card_charger
from billing.client import StripeBilling
from billing.context import build_billing
from engine.autotopup.commands import tick
from engine.runtime import start_runtime
from engine.wallets.crypto import Keyring, MasterKey
from tests.support.autotopup_settings import settings_for
from tests.support.stripe_server.core import DEFAULT_SECRET_KEY


async def main(data_dir: Path, database_url: str, chain_url: str, stripe_api_base: str) -> None:
    runtime = await start_runtime(settings_for(data_dir, database_url, chain_url), spawn_dev_chain=False)
    try:
        client = StripeBilling.create(DEFAULT_SECRET_KEY, api_base=stripe_api_base, max_network_retries=0)
        billing = build_billing(runtime, stripe=client, keyring=Keyring(MasterKey.parse("11" * 32)))
        assert billing is not None
        try:
            await tick(runtime.context, card=card_charger(billing))
        finally:
            await billing.aclose()
    finally:
        await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--chain-url", required=True)
    parser.add_argument("--stripe-api-base", required=True)
    a = parser.parse_args()
    asyncio.run(main(a.data_dir, a.database_url, a.chain_url, a.stripe_api_base))
