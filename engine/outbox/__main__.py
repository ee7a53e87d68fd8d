"""Run the outbox sender as its own process (crash tests, operators).

    python -m engine.outbox --database-url URL --chain-url URL --signer-key-env VAR (--once | --forever)
        [--confirmations N] [--replace-after S] [--max-fee-cap-gwei G] [--poll-interval S]
        [--until-idle]

``--once`` runs single passes until nothing is left in flight when ``--until-idle`` is given, else one
pass. The key is read from the environment variable named by ``--signer-key-env``, never from argv.
Failpoints (``CLOUDMARKET_FAILPOINTS``) apply, see engine/failpoints.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from chain.connect import connect
from chain.signer import LocalSigner
from engine.db import make_engine, make_sessionmaker
from engine.outbox.sender import OutboxSender

GWEI = 10**9


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m engine.outbox", description="transaction outbox sender")
    p.add_argument("--database-url", required=True)
    p.add_argument("--chain-url", required=True)
    p.add_argument("--signer-key-env", required=True, help="name of the env var holding the private key")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true")
    mode.add_argument("--forever", action="store_true")
    p.add_argument("--until-idle", action="store_true", help="with --once: passes until nothing is in flight")
    p.add_argument("--confirmations", type=int, default=1)
    p.add_argument("--replace-after", type=float, default=30.0)
    p.add_argument("--max-fee-cap-gwei", type=int, default=500)
    p.add_argument("--poll-interval", type=float, default=0.2)
    p.add_argument("--max-passes", type=int, default=1000)
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    key = os.environ.get(args.signer_key_env)
    if not key:
        print(f"environment variable {args.signer_key_env} is empty", file=sys.stderr)
        return 2
    engine = make_engine(args.database_url)
    conn = await connect(args.chain_url)
    try:
        sender = OutboxSender(
            make_sessionmaker(engine),
            conn,
            LocalSigner(key),
            confirmations=args.confirmations,
            replace_after=args.replace_after,
            max_fee_cap=args.max_fee_cap_gwei * GWEI,
            poll_interval=args.poll_interval,
        )
        if args.forever:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await sender.run_forever(stop)
            return 0
        for _ in range(args.max_passes):
            progress = await sender.run_once()
            if not args.until_idle or (not progress and progress.in_flight == 0):
                return 0
            if not progress:
                await asyncio.sleep(args.poll_interval)
        return 1
    finally:
        await conn.close()
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
