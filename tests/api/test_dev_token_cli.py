"""``cloudmarket dev token`` as a process: its token works against a running app; refused outside dev."""

from __future__ import annotations

from pathlib import Path

import jwt

from api.app import create_app
from api.cli import DEV_TOKEN_HINT, banner
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve
from tests.api.test_cli import run_cli


async def test_printed_token_signs_in_to_a_running_app(eth_runtime: Runtime, tmp_path: Path) -> None:
    result = run_cli(
        "dev",
        "token",
        "--role",
        "cloud-user",
        "--role",
        "cloud-provider",
        "--sub",
        "dev|cli-alice",
        "--ttl",
        "120",
        CLOUDMARKET_DATA_DIR=str(tmp_path),
        CLOUDMARKET_AUTH_ROLES_CLAIM="https://cm/roles",
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    assert claims["https://cm/roles"] == ["cloud-provider", "cloud-user"]

    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=eth_runtime.chain.chain_id,
        dev_issuer=True,
        auth_roles_claim="https://cm/roles",
    )
    app = create_app(eth_runtime, background=False, identity_options=options)
    async with serve(app) as client:
        resp = await client.get("/api/auth/session", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["sub"] == "dev|cli-alice"
        assert body["roles"] == ["cloud-provider", "cloud-user"]
        assert body["source"] == "dev"


def test_refused_when_the_dev_issuer_is_off(tmp_path: Path) -> None:
    off = run_cli(
        "dev",
        "token",
        "--role",
        "cloud-user",
        CLOUDMARKET_DATA_DIR=str(tmp_path),
        CLOUDMARKET_AUTH_DEV_ISSUER="false",
    )
    assert off.returncode == 2
    assert "dev issuer is disabled" in off.stderr
    assert off.stdout == ""
    assert not (tmp_path / "dev-issuer-key.pem").exists()


def test_refused_in_production(tmp_path: Path) -> None:
    """A production configuration that is otherwise complete: the refusal is the dev issuer's."""
    prod = run_cli(
        "dev",
        "token",
        "--role",
        "cloud-user",
        CLOUDMARKET_ENV="production",
        CLOUDMARKET_DATA_DIR=str(tmp_path),
        CLOUDMARKET_CHAIN_URL="https://rpc.example.org",
        CLOUDMARKET_PUBLIC_RPC_URL="https://public-rpc.example.org",
        CLOUDMARKET_AUTH_ISSUER="https://tenant.example.auth0.com/",
        CLOUDMARKET_AUTH_AUDIENCE="https://api.cloudmarket.example",
        CLOUDMARKET_SIGNER_KEY="0x" + "11" * 32,
        CLOUDMARKET_MASTER_KEY="22" * 32,
        CLOUDMARKET_DATABASE_URL="postgresql+asyncpg://cm@db.invalid/cm",
    )
    assert prod.returncode == 2, prod.stderr
    assert "dev issuer is disabled (env=production)" in prod.stderr
    assert prod.stdout == ""
    assert not (tmp_path / "dev-issuer-key.pem").exists()


def test_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    bad = run_cli("dev", "token", "--role", "root", CLOUDMARKET_DATA_DIR=str(tmp_path))
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_up_banner_prints_the_command(eth_runtime: Runtime) -> None:
    text = banner(eth_runtime, "http://127.0.0.1:8080")
    line = next(x for x in text.splitlines() if "dev token" in x)
    assert DEV_TOKEN_HINT in line
    assert f"CLOUDMARKET_DATA_DIR={eth_runtime.settings.data_dir}" in line
