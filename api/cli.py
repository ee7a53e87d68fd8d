"""The ``cloudmarket`` command.

::

    cloudmarket up [--reset]   dev: spawn anvil (state in the data dir) unless CLOUDMARKET_CHAIN_URL is set,
                               deploy the contracts if needed, migrate, serve the API
    cloudmarket serve [--workers N]
                               serve against CLOUDMARKET_CHAIN_URL: never spawns a chain, never deploys
                               (the data dir must hold the chain's manifest: `cloudmarket deploy`);
                               N > 1: N processes under gunicorn's aiohttp worker (PostgreSQL only)
    cloudmarket db upgrade     apply database migrations
    cloudmarket deploy         deploy the contract suite to the configured chain, print the manifest
    cloudmarket config         print the effective settings, secrets redacted
    cloudmarket dev token --role cloud-user [--role ...] [--sub SUB] [--ttl SECONDS] [--new-key]
                               print an access token from the dev issuer key in the service's data dir
                               (dev only; exit 2 otherwise, or when that data dir has no key yet)
    cloudmarket node run --api URL --node-id N (--token-file F | --token T | $CLOUDMARKET_NODE_TOKEN)
                         [--runtime process] [--state-dir DIR] [--rpc-url URL] [--stop-workloads-on-exit]
                               the reference node agent (needs no engine settings); a rejected token
                               exits with status 3

Configuration errors (including production safety checks and :meth:`Settings.check_serve`: SQLite with
``--workers`` > 1, the dev issuer in production, payments without a webhook secret, ``serve`` without a
manifest) exit with status 2 and a one-line message. SIGINT/SIGTERM stop the service gracefully: the
outbox sender stops, the HTTP server closes, the database pool is disposed and a spawned anvil is stopped
(it dumps its state).

``serve --workers N`` (N > 1) runs gunicorn's arbiter with :class:`aiohttp.worker.GunicornWebWorker`
(:class:`ServiceApplication`; no supervisor of our own). Before the workers fork, the master checks and
prepares what N processes must not race on (:func:`preflight`: migrations, the manifest, the dev key files)
and sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory unless it is set (``api.metrics`` sums the
workers' series from there). Every worker then builds its own runtime (connections are never shared
across a fork) and runs everything a single process runs: the hub's listener, the outbox sender and the
indexer (safe side by side: nonce-row lock, optimistic cursor) and a scheduler candidate (one leader, by
the PostgreSQL advisory lock). See README, "Pointing it at a real network", "Many processes".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from aiohttp import web
from gunicorn.app.base import BaseApplication
from sqlalchemy.engine import make_url

from api.auth.devissuer import DEFAULT_SUB, KEY_FILE, mint_dev_token
from api.auth.principal import KNOWN_ROLES
from api.logging import REDACTED, configure_logging
from engine.runtime import (
    MANIFESTS_DIR,
    Runtime,
    migrate,
    quote_signer_address,
    require_manifest,
    start_runtime,
    suite_config,
)
from engine.settings import Settings, SettingsError, load_settings

# api.app (and with it prometheus_client) is imported inside the functions that serve: `serve --workers`
# must set PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported.

EXIT_CONFIG = 2
EXIT_AUTH = 3
NODE_TOKEN_ENV = "CLOUDMARKET_NODE_TOKEN"  # noqa: S105  (the variable's name, not a token)
# a command line, not a credential
DEV_TOKEN_HINT = "cloudmarket dev token --role cloud-user"  # noqa: S105
DEV_TOKEN_TTL = 3600
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # api.metrics.MULTIPROC_ENV (not imported: see above)
WORKER_CLASS = "aiohttp.worker.GunicornWebWorker"
WORKER_TIMEOUT = 120  # seconds a worker may go silent (its start-up included) before the master restarts it
GRACEFUL_TIMEOUT = 30  # seconds a worker has to stop after SIGTERM


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudmarket", description="cloudmarket engine")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run locally: dev chain (anvil) if no chain URL, contracts, API")
    up.add_argument(
        "--reset", action="store_true", help="forget the dev chain state, manifests and default DB"
    )
    serve = sub.add_parser("serve", help="serve the API against CLOUDMARKET_CHAIN_URL (never deploys)")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="API processes (gunicorn's aiohttp worker; > 1 needs PostgreSQL). Default 1: this process",
    )
    dbp = sub.add_parser("db", help="database commands")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply migrations up to head")
    sub.add_parser("deploy", help="deploy the contract suite to the configured chain")
    sub.add_parser("config", help="print the effective settings (secrets redacted)")
    dev = sub.add_parser("dev", help="local development helpers")
    devsub = dev.add_subparsers(dest="dev_command", required=True)
    tok = devsub.add_parser(
        "token",
        help="print an access token from the dev issuer (dev only)",
        description=_dev_token_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tok.add_argument(
        "--new-key",
        action="store_true",
        help="create the dev issuer key when the data dir has none (a service started later on this data "
        "dir trusts it); without it a data dir no service has used is refused",
    )
    tok.add_argument(
        "--role",
        action="append",
        default=[],
        choices=sorted(KNOWN_ROLES),
        help="a role the token holds (repeatable; none: a signed-in user without roles)",
    )
    tok.add_argument("--sub", default=DEFAULT_SUB, help=f"the token's subject (default {DEFAULT_SUB})")
    tok.add_argument("--ttl", type=_positive_int, default=DEV_TOKEN_TTL, help="lifetime in seconds")
    node = sub.add_parser("node", help="provider node commands")
    nodesub = node.add_subparsers(dest="node_command", required=True)
    run = nodesub.add_parser("run", help="run the reference node agent")
    run.add_argument("--api", required=True, help="base URL of the cloudmarket API")
    run.add_argument("--node-id", type=_positive_int, required=True, help="the node's id in the API")
    tokens = run.add_mutually_exclusive_group()
    tokens.add_argument("--token", help=f"node token (visible to other users in ps; prefer {NODE_TOKEN_ENV})")
    tokens.add_argument("--token-file", type=Path, help="file holding the node token")
    run.add_argument("--runtime", choices=["process"], default="process", help="how workloads run")
    run.add_argument("--state-dir", type=Path, default=Path("cloudmarket-agent"), help="agent state dir")
    run.add_argument("--rpc-url", help="JSON-RPC URL for lease verification (default: from /api/chain)")
    run.add_argument("--from-block", type=int, default=0, help="first block searched for lease logs")
    run.add_argument("--wait", type=int, default=30, choices=range(0, 61), metavar="0..60")
    run.add_argument(
        "--stop-workloads-on-exit",
        action="store_true",
        help="stop every workload when the agent stops (default: leave them running for re-adoption)",
    )
    return parser


DATA_DIR_RULE = (
    "The data dir is found as the service finds it: $CLOUDMARKET_DATA_DIR, else `data_dir` in the TOML\n"
    "file named by $CLOUDMARKET_CONFIG, else ./.cloudmarket in the current directory. Run it with the\n"
    "environment and from the directory of `cloudmarket up` (its banner prints the exact command)."
)


def _dev_token_description() -> str:
    """The help text of ``dev token``, naming the data dir it would use here and now."""
    try:
        here = str(load_settings().data_dir.resolve() / KEY_FILE)
    except (SettingsError, OSError, ValueError) as exc:
        here = f"unknown ({exc})"
    return (
        "Print an access token signed with the dev issuer key of the service's data dir (dev only).\n\n"
        f"{DATA_DIR_RULE}\n\nKey used now: {here}"
    )


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def dev_token(settings: Settings, roles: list[str], sub: str, ttl: int, *, new_key: bool = False) -> str:
    """A dev-issuer token for ``settings``; :class:`SettingsError` when the dev issuer is not allowed, or
    when the data dir holds no issuer key and ``new_key`` is false (a token signed with a key the service
    does not have would only ever get 401)."""
    if settings.is_production or not settings.dev_issuer_enabled:
        raise SettingsError(
            "auth_dev_issuer",
            f"the dev issuer is disabled (env={settings.env}); `dev token` works only in dev with "
            "CLOUDMARKET_AUTH_DEV_ISSUER unset or true",
        )
    if not sub.strip():
        raise SettingsError("sub", "--sub must not be empty")
    key_file = settings.data_dir.resolve() / KEY_FILE
    if not new_key and not key_file.exists():
        rule = DATA_DIR_RULE.replace("\n", " ")
        raise SettingsError(
            "data_dir",
            f"no dev issuer key at {key_file}: no service has run with this data dir. {rule} "
            "(--new-key creates a key here)",
        )
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


async def _serve(settings: Settings, *, spawn_dev_chain: bool, reset: bool, deploy: bool = True) -> int:
    from api.app import create_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = await start_runtime(settings, spawn_dev_chain=spawn_dev_chain, reset=reset, deploy=deploy)
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
        await conn.ensure_funded(signer.address)
        manifest = await deploy_suite(
            conn,
            signer,
            manifest_dir=settings.data_dir / MANIFESTS_DIR,
            config=suite_config(settings),  # the settings' contract parameters (what `serve` reconciles to)
            quote_signer=quote_signer_address(settings),
        )
    finally:
        await conn.close()
    print(manifest.dumps(), end="")
    return 0


# ---- serve --workers N ----------------------------------------------------------------------------------
def ensure_dev_files(settings: Settings) -> None:
    """Create, once, the data-dir files each process would otherwise create on first use (dev only: the
    dev issuer key, the session secret and the master key when no master key is configured): N workers
    creating them at once could each write their own."""
    from api.auth.devissuer import DevIssuer
    from api.auth.session import load_or_create_session_secret
    from engine.wallets.crypto import load_or_create_dev_master_key

    if settings.dev_issuer_enabled:
        DevIssuer(settings.data_dir)
    if not settings.master_key:
        load_or_create_session_secret(settings.data_dir)
        load_or_create_dev_master_key(settings.data_dir)


async def preflight(settings: Settings) -> None:
    """The master's checks and preparation before the workers fork: dev files, migrations (one process),
    and the chain's manifest (``serve`` never deploys). Raises :class:`SettingsError`."""
    from chain.connect import connect

    if not settings.chain_url:
        raise SettingsError("chain_url", "`serve` needs a chain URL (use `up` for a local dev chain)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_dev_files(settings)
    await migrate(settings.effective_database_url)
    conn = await connect(settings.chain_url)
    try:
        await require_manifest(conn, settings.data_dir / MANIFESTS_DIR)
    finally:
        await conn.close()


async def worker_app(settings: Settings) -> web.Application:
    """One worker's app: its own runtime (closed when the app is cleaned up, after the background tasks)."""
    from api.app import create_app

    runtime = await start_runtime(settings, spawn_dev_chain=False, deploy=False)
    try:
        app = create_app(runtime)
    except BaseException:
        await runtime.close()
        raise

    async def _close_runtime(_app: web.Application) -> None:
        await runtime.close()

    app.on_cleanup.append(_close_runtime)
    return app


def _bind(settings: Settings) -> str:
    host = settings.http_host
    return f"[{host}]:{settings.http_port}" if ":" in host else f"{host}:{settings.http_port}"


class ServiceApplication(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn, configured in code: ``workers`` aiohttp workers, each serving :func:`worker_app`."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        super().__init__()

    def load_config(self) -> None:
        from api.metrics import child_exit  # after PROMETHEUS_MULTIPROC_DIR is set

        options: dict[str, Any] = {
            "bind": [_bind(self.settings)],
            "workers": self.workers,
            "worker_class": WORKER_CLASS,
            "timeout": WORKER_TIMEOUT,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "proc_name": "cloudmarket",
            "accesslog": None,
            "child_exit": child_exit,  # drops a dead worker's live gauges (api.metrics)
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        settings = self.settings

        async def factory() -> web.Application:
            return await worker_app(settings)

        return factory


def _multiproc_dir() -> str | None:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` to a fresh directory unless set (then empty it of a previous run's
    files); returns the directory this call created (to remove at exit)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous master's series would be summed into ours
            stale.unlink(missing_ok=True)
        return None
    created = tempfile.mkdtemp(prefix="cloudmarket-metrics-")
    os.environ[MULTIPROC_ENV] = created
    return created


def _serve_workers(settings: Settings, workers: int) -> int:
    created = _multiproc_dir()
    try:
        import api.app  # noqa: F401  (now that the env var is set; the workers inherit the imported modules)

        asyncio.run(preflight(settings))
        print(
            f"cloudmarket: serving http://{_bind(settings)} with {workers} worker processes",
            flush=True,
        )
        ServiceApplication(settings, workers).run()  # returns by SystemExit when the arbiter halts
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
    return 0


async def _db_upgrade(settings: Settings) -> int:
    await migrate(settings.effective_database_url)
    print(f"database at head: {_redacted_url(settings.effective_database_url)}")
    return 0


class NodeConfigError(Exception):
    """``node run`` cannot start as configured (no token, locked state directory, no RPC URL)."""


def node_token(args: argparse.Namespace) -> str:
    """The node token from --token, --token-file or the environment; never echoed."""
    if args.token:
        token = str(args.token)
    elif args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            raise NodeConfigError(f"cannot read {args.token_file}: {exc.strerror}") from None
    else:
        token = os.environ.get(NODE_TOKEN_ENV, "").strip()
    if not token:
        raise NodeConfigError(f"a node token is needed: --token-file, --token or {NODE_TOKEN_ENV}")
    return token


def _lock_state_dir(state_dir: Path) -> Any:
    """An exclusive lock on ``<state_dir>/agent.lock`` held for the process's life (the kernel drops it
    when the agent dies, even by SIGKILL): two agents on one state directory would fight."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "agent.lock", "a")  # held open until exit
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise NodeConfigError(f"another agent is running on {state_dir}") from None
    return handle


async def _node_run(args: argparse.Namespace, token: str) -> int:
    import aiohttp

    from api.nodeagent.agent import Agent, AgentConfig
    from api.nodeagent.client import NodeApiClient, NodeAuthRejected
    from api.nodeagent.runtime import ProcessRuntime
    from api.nodeagent.verify import ChainCheck, LeaseVerifier

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state_dir: Path = args.state_dir.resolve()
    async with aiohttp.ClientSession() as session:
        client = NodeApiClient(args.api, args.node_id, token, session=session)
        try:
            info_task = asyncio.create_task(client.chain_info())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait([info_task, stopper], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not info_task.done():
                info_task.cancel()
                return 0
            verifier = LeaseVerifier.from_chain_info(
                session, info_task.result(), rpc_url=args.rpc_url, from_block=args.from_block
            )
        except (ValueError, KeyError) as exc:
            raise NodeConfigError(f"cannot set up lease verification: {exc}") from None
        runtime = ProcessRuntime(state_dir)
        config = AgentConfig(wait=args.wait, stop_workloads_on_exit=args.stop_workloads_on_exit)
        # a failed lease check re-reads /api/chain first: the engine's chain may have moved
        check = ChainCheck(verifier, client.chain_info, rpc_url=args.rpc_url)
        agent = Agent(client, runtime, check, config, state_dir=state_dir)
        print(f"cloudmarket node agent: node {args.node_id} at {args.api}, state in {state_dir}", flush=True)
        try:
            await agent.run(stop)
        except NodeAuthRejected as exc:
            print(f"cloudmarket node: {exc}", file=sys.stderr, flush=True)
            return EXIT_AUTH
        print("cloudmarket node agent: stopped", flush=True)
    return 0


def _node_main(args: argparse.Namespace) -> int:
    configure_logging(
        os.environ.get("CLOUDMARKET_LOG_LEVEL", "INFO"), os.environ.get("CLOUDMARKET_LOG_FORMAT", "json")
    )
    try:
        token = node_token(args)
        lock = _lock_state_dir(args.state_dir)
    except NodeConfigError as exc:
        print(f"cloudmarket node: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return asyncio.run(_node_run(args, token))
    except NodeConfigError as exc:
        print(f"cloudmarket node: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    finally:
        lock.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "node":  # the agent runs on provider machines: no engine settings involved
        return _node_main(args)
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
            settings.check_serve()
            return asyncio.run(_serve(settings, spawn_dev_chain=True, reset=args.reset))
        if args.command == "serve":
            if not settings.chain_url:
                raise SettingsError("chain_url", "`serve` needs a chain URL (use `up` for a local dev chain)")
            settings.check_serve(workers=args.workers)
            if args.workers > 1:
                return _serve_workers(settings, args.workers)
            return asyncio.run(_serve(settings, spawn_dev_chain=False, reset=False, deploy=False))
        if args.command == "db":
            return asyncio.run(_db_upgrade(settings))
        if args.command == "deploy":
            return asyncio.run(_deploy(settings))
        if args.command == "dev":
            print(dev_token(settings, args.role, args.sub, args.ttl, new_key=args.new_key))
            return 0
    except SettingsError as exc:
        print(f"cloudmarket: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    raise AssertionError(f"unhandled command {args.command}")  # argparse restricts the choices


if __name__ == "__main__":
    sys.exit(main())
