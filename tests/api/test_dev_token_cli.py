"""``cloudmarket dev token`` as a process: its token works against a running app whose data dir it finds
like the service does; refused outside dev and on a data dir no service has used."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from api.app import create_app
from api.auth.devissuer import KEY_FILE
from api.cli import DEV_TOKEN_HINT, banner
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve
from tests.api.test_cli import run_cli


@pytest.mark.parametrize("found_by", ["CLOUDMARKET_DATA_DIR", "CLOUDMARKET_CONFIG"])
async def test_printed_token_signs_in_to_a_running_app(
    eth_runtime: Runtime, tmp_path: Path, found_by: str
) -> None:
    """The service runs first (it creates the issuer key in its data dir); the command finds that data dir
    the way the service does: from the environment, or from the TOML file the service was given."""
    data_dir = tmp_path / "service-data"
    options = identity.IdentityOptions(
        env="dev",
        data_dir=data_dir,
        chain_id=eth_runtime.chain.chain_id,
        dev_issuer=True,
        auth_roles_claim="https://cm/roles",
    )
    app = create_app(eth_runtime, background=False, identity_options=options)
    async with serve(app) as client:
        if found_by == "CLOUDMARKET_DATA_DIR":
            env = {"CLOUDMARKET_DATA_DIR": str(data_dir), "CLOUDMARKET_AUTH_ROLES_CLAIM": "https://cm/roles"}
        else:
            config = tmp_path / "cloudmarket.toml"
            config.write_text(f'data_dir = "{data_dir}"\nauth_roles_claim = "https://cm/roles"\n')
            env = {"CLOUDMARKET_CONFIG": str(config)}
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
            **env,
        )
        assert result.returncode == 0, result.stderr
        token = result.stdout.strip()
        assert token.count(".") == 2 and "\n" not in token
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 120
        assert claims["https://cm/roles"] == ["cloud-provider", "cloud-user"]

        resp = await client.get("/api/auth/session", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["sub"] == "dev|cli-alice"
        assert body["roles"] == ["cloud-provider", "cloud-user"]
        assert body["source"] == "dev"


def test_a_data_dir_no_service_used_is_refused_unless_asked(tmp_path: Path) -> None:
    """Run from the wrong directory (or without the service's variables), the command used to mint with a
    fresh key of its own: a token every request rejected with 401."""
    unused = tmp_path / "unused"
    refused = run_cli("dev", "token", "--role", "cloud-user", CLOUDMARKET_DATA_DIR=str(unused))
    assert refused.returncode == 2 and refused.stdout == ""
    assert f"no dev issuer key at {unused / KEY_FILE}" in refused.stderr
    assert "CLOUDMARKET_CONFIG" in refused.stderr and "--new-key" in refused.stderr
    assert not (unused / KEY_FILE).exists()

    made = run_cli("dev", "token", "--new-key", "--role", "cloud-user", CLOUDMARKET_DATA_DIR=str(unused))
    assert made.returncode == 0, made.stderr
    assert (unused / KEY_FILE).exists() and made.stdout.count(".") == 2


def test_help_says_where_the_data_dir_comes_from(tmp_path: Path) -> None:
    config = tmp_path / "cm.toml"
    config.write_text(f'data_dir = "{tmp_path / "from-config"}"\n')
    result = run_cli("dev", "token", "--help", CLOUDMARKET_CONFIG=str(config))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "$CLOUDMARKET_DATA_DIR" in text and "$CLOUDMARKET_CONFIG" in text and "./.cloudmarket" in text
    assert f"Key used now: {tmp_path / 'from-config' / KEY_FILE}" in text


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
        CLOUDMARKET_QUOTE_SIGNER_KEY="0x" + "33" * 32,
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
