"""The ``cloudmarket`` command as a process: config errors exit 2, secrets are redacted, db/deploy work."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from engine.settings import ANVIL_DEV_KEY

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMARKET_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unsafe_production_config_exits_2_with_a_clear_message(tmp_path):
    result = run_cli(
        "serve",
        CLOUDMARKET_ENV="production",
        CLOUDMARKET_CHAIN_URL="https://rpc.example.org",
        CLOUDMARKET_PUBLIC_RPC_URL="https://public-rpc.example.org",
        CLOUDMARKET_SIGNER_KEY=ANVIL_DEV_KEY,
        CLOUDMARKET_AUTH_ISSUER="https://tenant.example.auth0.com/",
        CLOUDMARKET_AUTH_AUDIENCE="https://api.cloudmarket.example",
        CLOUDMARKET_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 2
    assert "CLOUDMARKET_SIGNER_KEY" in result.stderr
    assert "refused in production" in result.stderr
    assert ANVIL_DEV_KEY not in result.stderr + result.stdout


def test_config_prints_effective_settings_with_secrets_redacted(tmp_path):
    result = run_cli(
        "config",
        CLOUDMARKET_DATA_DIR=str(tmp_path),
        CLOUDMARKET_STRIPE_SECRET_KEY="sk_test_abc",
        CLOUDMARKET_SIGNER_KEY="0x" + "7b" * 32,
        CLOUDMARKET_DATABASE_URL="postgresql+asyncpg://app:hunter2@db/cm",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["stripe_secret_key"] == "[redacted]"
    assert shown["signer_key"] == "[redacted]"
    assert shown["master_key"] is None
    assert shown["data_dir"] == str(tmp_path)
    for secret in ("hunter2", "sk_test_abc", "7b7b"):
        assert secret not in result.stdout
    assert shown["effective_database_url"] == "postgresql+asyncpg://app:***@db/cm"


def test_serve_without_chain_url_exits_2(tmp_path):
    result = run_cli("serve", CLOUDMARKET_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "CLOUDMARKET_CHAIN_URL" in result.stderr


def test_db_upgrade_then_deploy_to_eth_tester(tmp_path):
    result = run_cli("db", "upgrade", CLOUDMARKET_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "cloudmarket.db") as con:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"alembic_version", "outbox_tx"} <= tables

    result = run_cli("deploy", CLOUDMARKET_DATA_DIR=str(tmp_path), CLOUDMARKET_CHAIN_URL="eth-tester://")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["contracts"]["CreditToken"]["address"].startswith("0x")
    assert (tmp_path / "manifests" / f"{manifest['chain_id']}.json").exists()
