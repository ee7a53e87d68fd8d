"""Configuration: environment variables (``CLOUDMARKET_*``), optionally a TOML file.

The variable names are part of the interface (../shared/DESIGN.md, "Configuration"). A TOML file named by
``CLOUDMARKET_CONFIG`` may set the same keys, lower-case and without the prefix
(``database_url = "..."``); the environment wins over the file.

Settings are read once, by the process entry point, and passed down. Nothing imports a global settings
object.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "CLOUDMARKET_"

# Anvil's first default account (public knowledge, dev chains only). Never accepted in production.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
# The dev quote signer (issue 10): anvil's account #9 (mnemonic "test test ... junk", m/44'/60'/0'/0/9,
# address 0xa0Ee7A142d267C1f36714E4a8F75612F20a79720). Public, dev chains only; deliberately NOT the signer
# (minter) key, so that a dev suite already has the two roles apart.
DEV_QUOTE_SIGNER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
# Anvil's ten default accounts' keys (public knowledge): refused in production for any role.
ANVIL_KEYS = frozenset(
    {
        ANVIL_DEV_KEY,
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        DEV_QUOTE_SIGNER_KEY,
    }
)


def _norm_key(key: str) -> str:
    key = key.strip().lower()
    return key if key.startswith("0x") else "0x" + key


class SettingsError(ValueError):
    """A setting is missing, malformed, or unsafe for the chosen environment."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{PREFIX}{key.upper()}: {message}")
        self.key = key


@dataclass(frozen=True)
class Settings:
    env: str = "dev"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    data_dir: Path = Path(".cloudmarket")
    database_url: str | None = None
    # PostgreSQL connections each process keeps (engine.db.POOL_SIZE); N processes need N x this, plus
    # their scheduler/hub connections, within the server's max_connections
    db_pool_size: int = 40
    chain_url: str | None = None
    # the RPC URL handed to wallets by GET /api/chain (default: the URL the service itself uses)
    public_rpc_url: str | None = None
    # dev only: the port `cloudmarket up` gives the anvil it spawns (a free one if taken)
    dev_chain_port: int = 8545
    signer_key: str | None = field(default=None, repr=False)
    signer_key_file: Path | None = None
    # the escrow's quoting key (QUOTE_SIGNER_ROLE; issue 10): signs the price of every lease open. Never
    # the signer (minter) key; dev default DEV_QUOTE_SIGNER_KEY, production must name one.
    quote_signer_key: str | None = field(default=None, repr=False)
    quote_signer_key_file: Path | None = None
    quote_ttl: int = 900  # seconds (chain time) a signed quote stays valid
    confirmations: int | None = None
    # transaction sender tuning
    tx_replace_after: float = 30.0  # seconds a tx may stay pending before a fee bump
    tx_max_fee_cap_gwei: int = 500  # never bid more than this per gas
    tx_poll_interval: float = 0.5
    indexer_poll_interval: float = 1.0
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_jwks_url: str | None = None
    auth_roles_claim: str = "permissions"
    auth_dev_issuer: bool | None = None  # None: on in dev, off in production (where it may not be turned on)
    siwe_domain: str | None = None  # default "<http_host>:<http_port>"
    siwe_uri: str | None = None  # default "http://<http_host>:<http_port>"
    siwe_nonce_ttl: int = 600
    session_ttl: int = 3600
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    # top-up quote: Stripe's card fee and who bears it ("user": the charge is grossed up; "platform")
    stripe_fee_pct_bps: int = 290
    stripe_fee_fixed_cents: int = 30
    stripe_fee_bearer: str = "user"
    topup_min_cents: int = 500
    topup_max_cents: int = 1_000_000
    reconcile_window_hours: int = 72  # how far back the Stripe reconciliation job re-fetches
    # scheduler (engine.scheduler): one leader runs the periodic jobs; intervals in seconds
    scheduler_enabled: bool = True
    scheduler_retry_interval: float = 10.0  # followers retry the leader lock; the leader checks it holds it
    scheduler_misfire_grace: int = 60  # a run late by more than this is skipped (coalesced into the next)
    scheduler_reconcile_interval: float = 600.0  # billing.reconcile (only with Stripe configured)
    scheduler_reversals_interval: float = 60.0  # billing.reversals: advance pending refunds/clawbacks
    # node agents (engine.workloads), seconds: the heartbeat period handed to agents, when a silent node
    # counts as offline, how long usage samples and uptime minutes are kept
    node_heartbeat_interval: int = 15
    node_offline_after: int = 60
    node_usage_retention: int = 6 * 3600
    node_uptime_window: int = 24 * 3600
    scheduler_failover_interval: float = 5.0  # a dead primary moves to its backup within offline_after + this
    scheduler_autoscale_interval: float = 30.0
    scheduler_workloads_interval: float = 30.0  # workloads.health (offline nodes -> degraded) + pruning
    # deployments.funding: expire unfunded reservations, notice relayed opens that reverted
    scheduler_funding_interval: float = 10.0
    scheduler_balance_scan_interval: float = 60.0  # monitoring.balance_scan: runway snapshots
    # alerts.evaluate (engine.alerts): low-balance alerts from the latest forecast; a condition is announced
    # at most once per alert_period seconds (periods are aligned to the epoch: UTC days by default)
    scheduler_alerts_interval: float = 60.0
    alert_period: int = 86_400
    # auto top-up (engine.autotopup): tick period, one claim per lease per cooldown, no top-up or charge
    # under min units (1 credit)
    scheduler_auto_top_up_interval: float = 60.0
    # staking.spend_rates (engine.staking, issue 13): report each payer's total open lease rate on chain
    scheduler_staking_interval: float = 60.0
    # SLA (engine.sla, issue 13): sla.probe records a heartbeat/port sample per open lease every
    # sla_probe_interval seconds (each TCP check gives up after sla_probe_timeout); sla.evaluate judges
    # closed periods and drives breaches through the outbox every scheduler_sla_interval seconds
    sla_probe_interval: int = 60
    # the operator's SLA policy defaults (engine.operator settings of the same names): target uptime per
    # period (bps), period length (seconds), credit bands "below_bps:credit_bps,..."
    sla_target_bps: int = 9_950
    sla_period: int = 30 * 86_400
    sla_credit_schedule: str = "9950:1000,9900:2500,9500:5000"
    sla_probe_timeout: float = 3.0
    scheduler_sla_interval: float = 60.0
    # alliances.collect (engine.alliances.keeper, issue 13): every scheduler_alliance_collect_interval seconds
    # the backend signer collects each contributed node's escrow earnings of at least alliance_collect_min
    # credit units into its alliance (checkNode for nodes that left the registry or changed payee)
    scheduler_alliance_collect_interval: float = 3600.0
    alliance_collect_min: int = 1_000_000
    auto_top_up_cooldown: int = 3600
    auto_top_up_min_units: int = 1_000_000
    reservation_ttl: int = 900  # seconds a deployment may wait in `funding` before it expires
    # notifications (engine.notifications): email through SMTP (unset in dev: .eml files in the data dir),
    # signed webhooks retried with exponential backoff (base doubling up to max) for a day
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "cloudmarket <noreply@localhost>"
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    scheduler_notifications_interval: float = 5.0  # notifications.deliver: send due emails/webhooks
    notify_retry_base: float = 30.0  # seconds before the first retry; doubles per attempt
    notify_retry_max: float = 3600.0  # longest pause between two attempts
    webhook_timeout: float = 10.0  # seconds a receiver has to answer
    max_webhooks_per_user: int = 10
    master_key: str | None = field(default=None, repr=False)
    # marketplace contracts (chain.deploy.SuiteConfig): credit units, seconds, basis points
    provider_min_collateral: int = 100 * 10**6
    maintenance_min_notice: int = 24 * 3600
    maintenance_max_window: int = 4 * 3600
    maintenance_max_windows_per_month: int = 4
    provider_exit_cooldown: int = 7 * 24 * 3600
    platform_fee_bps: int = 500
    keeper_share_bps: int = 1_000
    keeper_max_tip: int = 10**6
    treasury_address: str | None = None  # default: the backend signer
    # currency swaps (engine.swaps): a Uniswap V2 router and the tokens offered ("USDC=0x..,WETH=0x..").
    # Unset on a dev chain: the devswap deployment's router and tokens (chain.devswap)
    swap_router_address: str | None = None
    swap_tokens: str = ""
    # the SwapTopUp adapter for that router and our escrow (swap + lease top-up in one tx, managed-wallet
    # swaps); unset: wallet swaps only through the router, no managed swaps. Dev chain: the devswap one
    swap_adapter_address: str | None = None
    # operator settings' defaults (engine.operator.config.OperatorSettings; the operator may change them)
    max_replicas: int = 10
    max_nodes_per_provider: int = 1_000
    # low-balance alert thresholds, seconds of runway, comma-separated (7 d, 24 h, 6 h)
    low_balance_thresholds: str = "604800,86400,21600"
    log_level: str = "INFO"
    log_format: str = "json"  # json | text
    # hostile input (api.limits, api.ratelimit, api.cors)
    max_body_bytes: int = 1024 * 1024  # larger request bodies get 413
    rate_limit_public_per_minute: int = 60  # per client IP: SIWE nonce/verify, dev JWKS (0: off)
    rate_limit_expensive_per_minute: int = 30  # per caller: create deployment, create intent (0: off)
    trusted_proxies: str = ""  # comma-separated addresses/CIDRs whose X-Forwarded-For is believed
    cors_origins: str = ""  # comma-separated browser origins allowed to call the API (https://app.example)
    # web console (api.console): its built files (default: console/dist of this checkout), the API base URL
    # it calls (empty: its own origin), its SPA client id at Auth0 (with auth_issuer; the dev issuer has a
    # fixed one), Stripe's publishable key and the Stripe.js URL (tests serve a stand-in)
    console_dir: Path | None = None
    console_api_base: str = ""
    console_auth_client_id: str | None = None
    stripe_publishable_key: str | None = None
    stripe_js_url: str = "https://js.stripe.com/v3/"

    # ---- derived values -------------------------------------------------------------------------
    @property
    def dev_issuer_enabled(self) -> bool:
        return (not self.is_production) if self.auth_dev_issuer is None else self.auth_dev_issuer

    @property
    def stripe_webhook_secrets(self) -> list[str]:
        """Several secrets, comma-separated, during a rotation; each is tried."""
        return [p.strip() for p in (self.stripe_webhook_secret or "").split(",") if p.strip()]

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cloudmarket.db').resolve()}"

    @property
    def effective_confirmations(self) -> int:
        if self.confirmations is not None:
            return self.confirmations
        return 12 if self.is_production else 1

    def signer_private_key(self) -> str | None:
        """The backend signer key; reads the key file when one is named. Never logged."""
        if self.signer_key:
            return self.signer_key.strip()
        if self.signer_key_file:
            return self.signer_key_file.read_text().strip()
        if not self.is_production:
            return ANVIL_DEV_KEY
        return None

    def quote_signer_private_key(self) -> str | None:
        """The quoting key; reads the key file when one is named. Never logged."""
        if self.quote_signer_key:
            return self.quote_signer_key.strip()
        if self.quote_signer_key_file:
            return self.quote_signer_key_file.read_text().strip()
        if not self.is_production:
            return DEV_QUOTE_SIGNER_KEY
        return None

    def validate(self) -> Settings:
        if self.env not in ("dev", "production"):
            raise SettingsError("env", f"must be 'dev' or 'production', got {self.env!r}")
        if not (0 < self.http_port < 65536):
            raise SettingsError("http_port", "must be a TCP port")
        if not (0 < self.dev_chain_port < 65536):
            raise SettingsError("dev_chain_port", "must be a TCP port")
        if not 1 <= self.db_pool_size <= 1000:
            raise SettingsError("db_pool_size", "must be 1 .. 1000 connections")
        if self.confirmations is not None and self.confirmations < 0:
            raise SettingsError("confirmations", "must be >= 0")
        if self.stripe_fee_bearer not in ("user", "platform"):
            raise SettingsError("stripe_fee_bearer", "must be 'user' or 'platform'")
        if not (0 <= self.stripe_fee_pct_bps <= 10_000) or self.stripe_fee_fixed_cents < 0:
            raise SettingsError("stripe_fee_pct_bps", "fee must be 0..10000 bps, fixed part >= 0")
        if not (0 < self.topup_min_cents <= self.topup_max_cents):
            raise SettingsError("topup_min_cents", "need 0 < min <= max")
        if self.reservation_ttl < 1:
            raise SettingsError("reservation_ttl", "must be at least 1 second")
        if not (60 <= self.quote_ttl <= 7 * 24 * 3600):
            raise SettingsError("quote_ttl", "must be 60 .. 604800 seconds")
        if self.alert_period < 60:
            raise SettingsError("alert_period", "must be at least 60 seconds")
        self._validate_operator_defaults()
        if self.is_production:
            if self.auth_dev_issuer:
                raise SettingsError("auth_dev_issuer", "the dev token issuer is refused in production")
            if not self.auth_issuer or not self.auth_audience:
                raise SettingsError("auth_issuer", "production needs the Auth0 issuer and audience")
            if not self.chain_url:
                raise SettingsError("chain_url", "production needs an explicit chain URL")
            if not self.public_rpc_url:
                # /api/chain hands this URL to every browser wallet; the service's own RPC URL often
                # carries a provider API key, so production must name the public one explicitly.
                raise SettingsError("public_rpc_url", "production needs the RPC URL to hand to wallets")
            if self.chain_url.startswith("eth-tester"):
                raise SettingsError("chain_url", "eth-tester is an in-process test chain, not for production")
            key = self.signer_private_key()
            if not key:
                raise SettingsError("signer_key", "production needs a signer key (or _FILE)")
            if _norm_key(key) in ANVIL_KEYS:
                raise SettingsError("signer_key", "the public anvil dev key is refused in production")
            quote_key = self.quote_signer_private_key()
            if not quote_key:
                raise SettingsError("quote_signer_key", "production needs a quote signer key (or _FILE)")
            if _norm_key(quote_key) in ANVIL_KEYS:
                raise SettingsError("quote_signer_key", "the public anvil keys are refused in production")
            if _norm_key(quote_key) == _norm_key(key):
                raise SettingsError("quote_signer_key", "must not be the signer (minter) key")
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise SettingsError("database_url", "production needs PostgreSQL")
            if not self.master_key:
                raise SettingsError("master_key", "production needs a master key for managed wallets")
        return self

    def check_serve(self, *, workers: int = 1) -> Settings:
        """What a serving process refuses on top of :meth:`validate` (``cloudmarket up``/``serve``; ``config``
        and ``deploy`` do not serve, so they accept these combinations)."""
        if workers < 1:
            raise SettingsError("workers", "--workers must be at least 1")
        if workers > 1 and not self.effective_database_url.startswith("postgresql"):
            raise SettingsError(
                "database_url",
                f"--workers {workers} needs PostgreSQL: with SQLite the wake-ups, the scheduler lock and the "
                "database file do not reach across processes (run one process, or set a PostgreSQL URL)",
            )
        if self.is_production and self.dev_issuer_enabled:
            raise SettingsError("auth_dev_issuer", "the dev token issuer is refused in production")
        if self.stripe_secret_key and not self.stripe_webhook_secrets:
            raise SettingsError(
                "stripe_webhook_secret",
                "payments are on (CLOUDMARKET_STRIPE_SECRET_KEY is set) but there is no webhook secret: no "
                "Stripe event could be verified, so no payment would ever be credited",
            )
        return self

    def _validate_operator_defaults(self) -> None:
        """The operator settings' defaults must lie in the ranges the operator's own values are held to
        (``engine.operator.services.SETTINGS_FIELDS``), or every read of the settings would fail later."""
        from engine.operator import services as operator  # imported late: engine.operator reads settings
        from engine.operator.errors import InvalidConfig

        try:
            operator.defaults(operator.SETTINGS, operator.overrides_from_settings(self)[operator.SETTINGS])
        except InvalidConfig as exc:
            raise SettingsError(exc.field, exc.reason) from exc

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _coerce(name: str, raw: Any) -> Any:
    typ = {f.name: f.type for f in fields(Settings)}[name]
    if raw is None:
        return None
    text = str(raw)
    if "bool" in str(typ):
        if isinstance(raw, bool):
            return raw
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"not a boolean: {text!r}")
    try:
        if "int" in str(typ) and "Path" not in str(typ):
            return int(text)
        if "float" in str(typ):
            return float(text)
    except ValueError as exc:
        raise SettingsError(name, f"not a number: {text!r}") from exc
    if "Path" in str(typ):
        return Path(text)
    return text


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from a TOML file (optional), the environment, then explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    cfg_file = env.get(PREFIX + "CONFIG")
    if cfg_file:
        with open(cfg_file, "rb") as fh:
            data = tomllib.load(fh)
        for key, raw in data.items():
            if key not in known:
                raise SettingsError(key, f"unknown key in {cfg_file}")
            values[key] = _coerce(key, raw)
    for name in known:
        raw = env.get(PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values).validate()
