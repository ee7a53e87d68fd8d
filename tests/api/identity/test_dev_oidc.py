"""Dev OpenID Connect over HTTP (authorization code + PKCE S256), on the service app and a real runtime.

The flow as ``@auth0/auth0-spa-js`` drives it: GET authorize (login form), POST the form (302 with code and
state), POST oauth/token with the verifier. The tokens it returns are then accepted by the API itself.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from api.app import create_app
from api.auth.devissuer import DEV_AUDIENCE, DEV_ISSUER, DevIssuer
from api.auth.devoidc import DEV_CLIENT_ID
from api.auth.errors import AuthConfigError
from api.auth.identity_setup import IdentityOptions, build_identity
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve

CONSOLE = "http://console.test:5173"
BASE = "/api/auth/dev"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _options(tmp_path: Path, chain_id: int, clock: Callable[[], float] = time.time) -> IdentityOptions:
    return identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=chain_id,
        dev_issuer=True,
        console_origins=(CONSOLE,),
        clock=clock,
    )


@pytest.fixture
async def client(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[object]:
    app = create_app(
        eth_runtime, background=False, identity_options=_options(tmp_path, eth_runtime.chain.chain_id)
    )
    async with serve(app) as c:
        yield c


def authorize_params(challenge: str, **over: str) -> dict[str, str]:
    params = {
        "client_id": DEV_CLIENT_ID,
        "redirect_uri": CONSOLE + "/",
        "response_type": "code",
        "response_mode": "query",
        "scope": "openid profile email",
        "audience": DEV_AUDIENCE,
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(over)
    return params


async def login(client, challenge: str, *, sub: str = "dev|oidc-alice", roles=("cloud-user",), **over: str):
    """GET the form, POST it as a browser would; returns (code, state, params)."""
    params = authorize_params(challenge, **over)
    r = await client.get(f"{BASE}/authorize", params=params, allow_redirects=False)
    assert r.status == 200, await r.text()
    page = await r.text()
    assert 'name="code_challenge"' in page and "dev-login-submit" in page
    form = [*params.items(), ("sub", sub), *(("role", role) for role in roles)]
    r = await client.post(f"{BASE}/authorize", data=form, allow_redirects=False)
    assert r.status == 302, await r.text()
    location = r.headers["Location"]
    assert location.startswith(params["redirect_uri"] + "?")
    q = parse_qs(urlsplit(location).query)
    assert q["state"] == [params["state"]]
    return q["code"][0], params


async def exchange(client, code: str, verifier: str, redirect_uri: str = CONSOLE + "/"):
    body = {
        "grant_type": "authorization_code",
        "client_id": DEV_CLIENT_ID,
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": redirect_uri,
    }
    r = await client.post(f"{BASE}/oauth/token", data=body)
    return r.status, await r.json()


async def test_discovery_names_the_endpoints(client) -> None:
    r = await client.get(f"{BASE}/.well-known/openid-configuration")
    assert r.status == 200
    doc = await r.json()
    assert doc["issuer"] == DEV_ISSUER
    assert doc["authorization_endpoint"].endswith(f"{BASE}/authorize")
    assert doc["token_endpoint"].endswith(f"{BASE}/oauth/token")
    assert doc["code_challenge_methods_supported"] == ["S256"]
    r = await client.get(urlsplit(doc["jwks_uri"]).path)
    assert r.status == 200 and (await r.json())["keys"]


async def test_code_flow_issues_tokens_the_api_accepts(client) -> None:
    verifier, challenge = pkce()
    code, params = await login(client, challenge, roles=("cloud-user", "cloud-provider"))
    status, body = await exchange(client, code, verifier)
    assert status == 200, body
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["iss"] == DEV_ISSUER and claims["aud"] == DEV_CLIENT_ID
    assert claims["nonce"] == params["nonce"] and claims["sub"] == "dev|oidc-alice"
    r = await client.get("/api/auth/session", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status == 200, await r.text()
    session = await r.json()
    assert sorted(session["roles"]) == ["cloud-provider", "cloud-user"]


async def test_verifier_mismatch_is_invalid_grant(client) -> None:
    _, challenge = pkce()
    other_verifier, _ = pkce()
    code, _ = await login(client, challenge)
    status, body = await exchange(client, code, other_verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_code_is_single_use(client) -> None:
    verifier, challenge = pkce()
    code, _ = await login(client, challenge)
    status, _ = await exchange(client, code, verifier)
    assert status == 200
    status, body = await exchange(client, code, verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_failed_exchange_burns_the_code(client) -> None:
    verifier, challenge = pkce()
    code, _ = await login(client, challenge)
    status, _ = await exchange(client, code, pkce()[0])
    assert status == 400
    status, body = await exchange(client, code, verifier)  # the right verifier, too late
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_token_redirect_uri_must_match_the_authorization_request(client) -> None:
    verifier, challenge = pkce()
    code, _ = await login(client, challenge)
    status, body = await exchange(client, code, verifier, redirect_uri=CONSOLE)  # no trailing slash
    assert (status, body["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://evil.test/", CONSOLE + "/callback", CONSOLE + ".evil.test/", "http://console.test:5174/"],
)
async def test_unknown_redirect_uri_is_refused_and_never_redirected_to(client, redirect_uri: str) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, redirect_uri=redirect_uri)
    r = await client.get(f"{BASE}/authorize", params=params, allow_redirects=False)
    assert r.status == 400 and "Location" not in r.headers
    r = await client.post(f"{BASE}/authorize", data={**params, "sub": "dev|x"}, allow_redirects=False)
    assert r.status == 400 and "Location" not in r.headers


async def test_pkce_is_required(client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, code_challenge_method="plain")
    r = await client.get(f"{BASE}/authorize", params=params, allow_redirects=False)
    assert r.status == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["error"] == ["invalid_request"] and q["state"] == [params["state"]]


async def test_silent_auth_answers_login_required(client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, response_mode="web_message", prompt="none")
    r = await client.get(f"{BASE}/authorize", params=params, allow_redirects=False)
    assert r.status == 200
    page = await r.text()
    assert '"login_required"' in page and params["state"] in page and "postMessage" in page
    assert f'"{CONSOLE}"' in page  # posted to the console's origin only


async def test_expired_code_is_invalid_grant(eth_runtime: Runtime, tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    opts = _options(tmp_path, eth_runtime.chain.chain_id, clock=lambda: now[0])
    app = create_app(eth_runtime, background=False, identity_options=opts)
    async with serve(app) as c:
        verifier, challenge = pkce()
        code, _ = await login(c, challenge)
        now[0] += 61
        status, body = await exchange(c, code, verifier)
        assert (status, body["error"]) == (400, "invalid_grant")


async def test_unknown_role_is_refused(client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge)
    form = [*params.items(), ("sub", "dev|x"), ("role", "root")]
    r = await client.post(f"{BASE}/authorize", data=form, allow_redirects=False)
    assert r.status == 400 and "unknown roles" in await r.text()


async def test_routes_absent_without_the_dev_issuer(eth_runtime: Runtime, tmp_path: Path) -> None:
    opts = identity.IdentityOptions(
        env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id, dev_issuer=False
    )
    async with serve(create_app(eth_runtime, background=False, identity_options=opts)) as c:
        _, challenge = pkce()
        for r in (
            await c.get(f"{BASE}/.well-known/openid-configuration"),
            await c.get(f"{BASE}/authorize", params=authorize_params(challenge), allow_redirects=False),
            await c.post(f"{BASE}/oauth/token", data={"grant_type": "authorization_code"}),
        ):
            assert r.status == 404


def test_production_refuses_the_dev_issuer(tmp_path: Path) -> None:
    opts = IdentityOptions(env="production", data_dir=tmp_path, chain_id=1, dev_issuer=True)
    with pytest.raises(AuthConfigError):
        build_identity(opts, None, None, None)  # type: ignore[arg-type]
    assert not (tmp_path / "dev-issuer-key.pem").exists()


def test_dev_key_unchanged_by_oidc(tmp_path: Path) -> None:
    """The id_token is signed by the same dev key the JWKS publishes."""
    dev = DevIssuer(tmp_path)
    token = dev.sign({"iss": DEV_ISSUER, "sub": "s"})
    assert jwt.get_unverified_header(token)["kid"] == dev.kid


async def test_other_client_ids_are_refused(client) -> None:
    _, challenge = pkce()
    params = authorize_params(challenge, client_id="someone-else")
    r = await client.get(f"{BASE}/authorize", params=params, allow_redirects=False)
    assert r.status == 400 and "Location" not in r.headers


def test_console_client_id_setting_is_the_dev_client(tmp_path: Path) -> None:
    from engine.settings import Settings

    settings = Settings(data_dir=tmp_path, console_auth_client_id="my-console", http_port=9123)
    opts = IdentityOptions.from_settings(settings, chain_id=31337)
    assert opts.console_client_id == "my-console"
    assert "http://127.0.0.1:9123" in opts.console_origins and "http://localhost:9123" in opts.console_origins
    assert IdentityOptions.from_settings(Settings(data_dir=tmp_path), 1).console_client_id == DEV_CLIENT_ID
