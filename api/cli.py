"""The ``cloudmarket`` command.

::

    cloudmarket up [--reset]   dev: spawn anvil (state in the data dir) unless CLOUDMARKET_CHAIN_URL is set,
                               deploy the contracts if needed, migrate, serve the API
    cloudmarket serve          serve against CLOUDMARKET_CHAIN_URL (never spawns a chain)
    cloudmarket db upgrade     apply database migrations
    cloudmarket deploy         deploy the contract suite to the configured chain, print the manifest
    cloudmarket config         print the effective settings, secrets redacted
    cloudmarket dev token --role cloud-user [--role ...] [--sub SUB] [--ttl SECONDS]
                               print an access token from the dev issuer (dev only; exit 2 otherwise)

Configuration errors (including production safety checks) exit with status 2 and a one-line message.
SIGINT/SIGTERM stop the service gracefully: the outbox sender stops, the HTTP server closes, the database
pool is disposed and a spawned anvil is stopped (it dumps its state).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.engine import make_url

from api.app import create_app
from api.auth.devissuer import DEFAULT_SUB, mint_dev_token
from api.auth.principal import KNOWN_ROLES
from api.logging import REDACTED, configure_logging
from engine.runtime import MANIFESTS_DIR, Runtime, fund_on_eth_tester, start_runtime
from engine.settings import Settings, SettingsError, load_settings

EXIT_CONFIG = 2
# a command line, not a credential
DEV_TOKEN_HINT = "cloudmarket dev token --role cloud-user"  # noqa: S105
DEV_TOKEN_TTL = 3600


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudmarket", description="cloudmarket engine")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run locally: dev chain (anvil) if no chain URL, contracts, API")
    up.add_argument(
        "--reset", action="store_true", help="forget the dev chain state, manifests and default DB"
    )
    sub.add_parser("serve", help="serve the API against CLOUDMARKET_CHAIN_URL")
    dbp = sub.add_parser("db", help="database commands")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply migrations up to head")
    sub.add_parser("deploy", help="deploy the contract suite to the configured chain")
    sub.add_parser("config", help="print the effective settings (secrets redacted)")
    dev = sub.add_parser("dev", help="local development helpers")
    devsub = dev.add_subparsers(dest="dev_command", required=True)
    tok = devsub.add_parser("token", help="print an access token from the dev issuer (dev only)")
    tok.add_argument(
        "--role",
        action="append",
        default=[],
        choices=sorted(KNOWN_ROLES),
        help="a role the token holds (repeatable; none: a signed-in user without roles)",
    )
    tok.add_argument("--sub", default=DEFAULT_SUB, help=f"the token's subject (default {DEFAULT_SUB})")
    tok.add_argument("--ttl", type=_positive_int, default=DEV_TOKEN_TTL, help="lifetime in seconds")
    return parser


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def dev_token(settings: Settings, roles: list[str], sub: str, ttl: int) -> str:
    """A dev-issuer token for ``settings``; :class:`SettingsError` when the dev issuer is not allowed."""
    if settings.is_production or not settings.dev_issuer_enabled:
        raise SettingsError(
            "auth_dev_issuer",
            f"the dev issuer is disabled (env={settings.env}); `dev token` works only in dev with "
            "CLOUDMARKET_AUTH_DEV_ISSUER unset or true",
        )
    if not sub.strip():
        raise SettingsError("sub", "--sub must not be empty")
    return mint_dev_token(settings.data_dir, roles, sub, ttl, roles_claim=settings.auth_roles_claim)


def dev_token_hint(settings: Settings) -> str:
    if settings.is_production or not settings.dev_issuer_enabled:
        return "disabled (no dev issuer outside dev)"
    if settings.data_dir == Settings().data_dir:
        return DEV_TOKEN_HINT
    return f"CLOUDMARKET_DATA_DIR={settings.data_dir} {DEV_TOKEN_HINT}"


def _redacted_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL; show nothing rather than a secret
        return REDACTED


def effective_config(settings: Settings) -> dict[str, Any]:
    """Every setting with secrets (fields hidden from repr) redacted, plus the derived values."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if not f.repr and value is not None:
            value = REDACTED
        elif isinstance(value, Path):
            value = str(value)
        elif f.name == "database_url" and value is not None:
            value = _redacted_url(value)
        out[f.name] = value
    out["effective_database_url"] = _redacted_url(settings.effective_database_url)
    out["effective_confirmations"] = settings.effective_confirmations
    return out


def banner(runtime: Runtime, api_url: str) -> str:
    lines = [
        "cloudmarket is up",
        f"  API         {api_url}",
        f"  chain RPC   {runtime.public_rpc_url}   (chain id {runtime.chain.chain_id})",
        f"  signer      {runtime.signer.address}",
        "  contracts",
    ]
    manifest = runtime.manifest
    lines += [f"    {name:<20} {manifest.address(name)}" for name in sorted(manifest.contracts)]
    lines.append(f"  dev token   {dev_token_hint(runtime.settings)}")
    return "\n".join(lines)


async def _serve(settings: Settings, *, spawn_dev_chain: bool, reset: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = await start_runtime(settings, spawn_dev_chain=spawn_dev_chain, reset=reset)
    try:
        if stop.is_set():  # asked to stop while starting
            return 0
        runner = web.AppRunner(create_app(runtime), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            print(banner(runtime, f"http://{settings.http_host}:{settings.http_port}"), flush=True)
            await stop.wait()
            print("cloudmarket: stopping", flush=True)
        finally:
            await runner.cleanup()
    finally:
        await runtime.close()
    return 0


async def _deploy(settings: Settings) -> int:
    from chain.connect import connect
    from chain.deploy import deploy_suite
    from chain.signer import LocalSigner

    if not settings.chain_url:
        raise SettingsError("chain_url", "`deploy` needs a chain URL")
    key = settings.signer_private_key()
    if key is None:
        raise SettingsError("signer_key", "`deploy` needs a signer key")
    conn = await connect(settings.chain_url)
    try:
        signer = LocalSigner(key)
        if conn.kind == "eth-tester":
            await fund_on_eth_tester(conn, signer.address)
        manifest = await deploy_suite(conn, signer, manifest_dir=settings.data_dir / MANIFESTS_DIR)
    finally:
        await conn.close()
    print(manifest.dumps(), end="")
    return 0


async def _db_upgrade(settings: Settings) -> int:
    from engine import db

    await db.upgrade(settings.effective_database_url)
    print(f"database at head: {_redacted_url(settings.effective_database_url)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except (SettingsError, OSError, ValueError) as exc:
        print(f"cloudmarket: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "config":
            print(json.dumps(effective_config(settings), indent=2))
            return 0
        if args.command == "up":
            return asyncio.run(_serve(settings, spawn_dev_chain=True, reset=args.reset))
        if args.command == "serve":
            if not settings.chain_url:
                raise SettingsError("chain_url", "`serve` needs a chain URL (use `up` for a local dev chain)")
            return asyncio.run(_serve(settings, spawn_dev_chain=False, reset=False))
        if args.command == "db":
            return asyncio.run(_db_upgrade(settings))
        if args.command == "deploy":
            return asyncio.run(_deploy(settings))
        if args.command == "dev":
            print(dev_token(settings, args.role, args.sub, args.ttl))
            return 0
    except SettingsError as exc:
        print(f"cloudmarket: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    raise AssertionError(f"unhandled command {args.command}")  # argparse restricts the choices


if __name__ == "__main__":
    sys.exit(main())
