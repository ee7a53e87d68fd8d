"""Settings: defaults, TOML file + environment precedence, production safety checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import ANVIL_DEV_KEY, DEV_QUOTE_SIGNER_KEY, Settings, SettingsError, load_settings

PROD_KEY = "0x" + "5a" * 32
PROD_QUOTE_KEY = "0x" + "6b" * 32
PG_URL = "postgresql+asyncpg://app:pw@db.internal/cloudmarket"


def prod_env(**extra: str) -> dict[str, str]:
    env = {
        "CLOUDMARKET_ENV": "production",
        "CLOUDMARKET_CHAIN_URL": "https://rpc.example.org",
        "CLOUDMARKET_SIGNER_KEY": PROD_KEY,
        "CLOUDMARKET_QUOTE_SIGNER_KEY": PROD_QUOTE_KEY,
        "CLOUDMARKET_DATABASE_URL": PG_URL,
        "CLOUDMARKET_MASTER_KEY": "m" * 44,
        "CLOUDMARKET_AUTH_ISSUER": "https://tenant.example.auth0.com/",
        "CLOUDMARKET_AUTH_AUDIENCE": "https://api.cloudmarket.example",
        "CLOUDMARKET_PUBLIC_RPC_URL": "https://public-rpc.example.org",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def test_defaults():
    s = load_settings({})
    assert s.env == "dev"
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.chain_url is None
    assert s.effective_confirmations == 1
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.effective_database_url.endswith("/.cloudmarket/cloudmarket.db")
    assert s.signer_private_key() == ANVIL_DEV_KEY
    assert s.quote_signer_private_key() == DEV_QUOTE_SIGNER_KEY != ANVIL_DEV_KEY
    assert s.quote_ttl == 900
    assert s.public_rpc_url is None
    assert s.dev_chain_port == 8545


def test_environment_values_are_typed():
    s = load_settings(
        {
            "CLOUDMARKET_HTTP_PORT": "9001",
            "CLOUDMARKET_DATA_DIR": "/srv/cm",
            "CLOUDMARKET_TX_REPLACE_AFTER": "2.5",
            "CLOUDMARKET_PUBLIC_RPC_URL": "https://rpc.x",
            "CLOUDMARKET_DEV_CHAIN_PORT": "18545",
        }
    )
    assert s.http_port == 9001
    assert s.data_dir == Path("/srv/cm")
    assert s.tx_replace_after == 2.5
    assert s.public_rpc_url == "https://rpc.x"
    assert s.dev_chain_port == 18545


def test_toml_file_then_environment_wins(tmp_path):
    cfg = tmp_path / "cloudmarket.toml"
    cfg.write_text('http_port = 9100\nchain_url = "eth-tester://"\nconfirmations = 3\n')
    s = load_settings({"CLOUDMARKET_CONFIG": str(cfg)})
    assert (s.http_port, s.chain_url, s.effective_confirmations) == (9100, "eth-tester://", 3)
    s = load_settings({"CLOUDMARKET_CONFIG": str(cfg), "CLOUDMARKET_HTTP_PORT": "9200"})
    assert (s.http_port, s.chain_url) == (9200, "eth-tester://")


def test_unknown_toml_key_is_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('chain_ulr = "http://x"\n')
    with pytest.raises(SettingsError) as info:
        load_settings({"CLOUDMARKET_CONFIG": str(cfg)})
    assert info.value.key == "chain_ulr"


@pytest.mark.parametrize("raw", ["abc", "70000", "0"])
def test_bad_port(raw):
    with pytest.raises(SettingsError) as info:
        load_settings({"CLOUDMARKET_HTTP_PORT": raw})
    assert info.value.key == "http_port"


def test_bad_env_name():
    with pytest.raises(SettingsError) as info:
        load_settings({"CLOUDMARKET_ENV": "staging"})
    assert info.value.key == "env"


def test_valid_production_config_passes():
    s = load_settings(prod_env())
    assert s.is_production
    assert s.effective_confirmations == 12


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"CLOUDMARKET_CHAIN_URL": ""}, "chain_url"),
        ({"CLOUDMARKET_CHAIN_URL": "eth-tester://"}, "chain_url"),
        ({"CLOUDMARKET_SIGNER_KEY": ""}, "signer_key"),
        ({"CLOUDMARKET_SIGNER_KEY": ANVIL_DEV_KEY}, "signer_key"),
        ({"CLOUDMARKET_SIGNER_KEY": ANVIL_DEV_KEY.upper().replace("0X", "0x")}, "signer_key"),
        ({"CLOUDMARKET_QUOTE_SIGNER_KEY": ""}, "quote_signer_key"),
        ({"CLOUDMARKET_QUOTE_SIGNER_KEY": DEV_QUOTE_SIGNER_KEY}, "quote_signer_key"),
        ({"CLOUDMARKET_QUOTE_SIGNER_KEY": ANVIL_DEV_KEY[2:]}, "quote_signer_key"),
        ({"CLOUDMARKET_QUOTE_SIGNER_KEY": PROD_KEY.upper().replace("0X", "0x")}, "quote_signer_key"),
        ({"CLOUDMARKET_QUOTE_TTL": "5"}, "quote_ttl"),
        ({"CLOUDMARKET_MAINTENANCE_MAX_WINDOWS_PER_MONTH": "9"}, "maintenance_max_windows_per_month"),
        ({"CLOUDMARKET_MAINTENANCE_MAX_WINDOWS_PER_MONTH": "0"}, "maintenance_max_windows_per_month"),
        ({"CLOUDMARKET_DATABASE_URL": ""}, "database_url"),
        ({"CLOUDMARKET_DATABASE_URL": "sqlite+aiosqlite:///prod.db"}, "database_url"),
        ({"CLOUDMARKET_MASTER_KEY": ""}, "master_key"),
        ({"CLOUDMARKET_AUTH_DEV_ISSUER": "true"}, "auth_dev_issuer"),
        ({"CLOUDMARKET_PUBLIC_RPC_URL": ""}, "public_rpc_url"),
        ({"CLOUDMARKET_AUTH_ISSUER": ""}, "auth_issuer"),
        ({"CLOUDMARKET_AUTH_AUDIENCE": ""}, "auth_issuer"),
    ],
)
def test_production_refuses_unsafe_settings(change, key):
    with pytest.raises(SettingsError) as info:
        load_settings(prod_env(**change))
    assert info.value.key == key
    assert f"CLOUDMARKET_{key.upper()}" in str(info.value)


def test_signer_key_file_is_read(tmp_path):
    key_file = tmp_path / "signer.key"
    key_file.write_text(PROD_KEY + "\n")
    s = load_settings(prod_env(CLOUDMARKET_SIGNER_KEY="", CLOUDMARKET_SIGNER_KEY_FILE=str(key_file)))
    assert s.signer_private_key() == PROD_KEY


def test_quote_signer_key_file_is_read(tmp_path):
    key_file = tmp_path / "quote.key"
    key_file.write_text(PROD_QUOTE_KEY + "\n")
    s = load_settings(
        prod_env(CLOUDMARKET_QUOTE_SIGNER_KEY="", CLOUDMARKET_QUOTE_SIGNER_KEY_FILE=str(key_file))
    )
    assert s.quote_signer_private_key() == PROD_QUOTE_KEY


def test_secrets_stay_out_of_repr():
    s = Settings(
        signer_key=PROD_KEY, quote_signer_key=PROD_QUOTE_KEY, stripe_secret_key="sk_live_x", master_key="mk"
    )
    text = repr(s)
    assert (
        PROD_QUOTE_KEY not in text and PROD_KEY not in text and "sk_live_x" not in text and "mk'" not in text
    )


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("max_replicas", "0"),
        ("max_nodes_per_provider", "0"),
        ("node_offline_after", "0"),
        ("node_offline_after", str(2 * 86_400)),
        ("platform_fee_bps", "2001"),
        ("provider_min_collateral", str(2**63)),
    ],
)
def test_operator_defaults_must_be_in_the_operators_ranges(name, raw):
    """An environment default the operator could not set is refused at start, not at the first read."""
    load_settings({})  # the built-in defaults pass
    with pytest.raises(SettingsError) as info:
        load_settings({f"CLOUDMARKET_{name.upper()}": raw})
    assert info.value.key == name
