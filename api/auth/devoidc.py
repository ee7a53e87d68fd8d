"""Dev OpenID Connect on the dev issuer: enough of Auth0's endpoints for ``@auth0/auth0-spa-js`` to log in
without Auth0 (authorization code + PKCE S256). Dev only: it exists only where the dev issuer does.

The SDK is configured with ``domain = <service origin>/api/auth/dev``, ``clientId =``
:data:`DEV_CLIENT_ID` (or ``console_auth_client_id``) and ``issuer =``
:data:`~api.auth.devissuer.DEV_ISSUER`; it then calls ``<domain>/authorize`` and ``<domain>/oauth/token``
(discovery is served too, for other clients).

* ``authorize`` checks ``client_id``, ``response_type=code``, ``code_challenge_method=S256`` and that
  ``redirect_uri`` is exactly one of the allowed URIs (each console origin, with or without a trailing
  ``/``). A silent request (``response_mode=web_message`` or ``prompt=none``) is answered
  ``login_required``: there is no login session to reuse. Otherwise a login form picks a dev user and
  roles; submitting it issues a code bound to client, redirect URI, challenge, nonce and user.
* A code is random (256 bits), single use (taken out of the store on the first exchange, whatever its
  outcome) and expires after :data:`CODE_TTL` seconds.
* ``oauth/token`` answers like Auth0: an RS256 access token for the dev audience with the roles claim, an
  ``id_token`` for the client (``nonce``, ``azp``), ``token_type``, ``expires_in``, ``scope``; errors are
  RFC 6749 ``{"error", "error_description"}`` (``invalid_grant`` for a bad/reused/expired code, a verifier
  that does not match the challenge or a different ``redirect_uri``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from api.auth.devissuer import DEFAULT_SUB, DEV_AUDIENCE, DEV_ISSUER, DevIssuer
from api.auth.principal import KNOWN_ROLES

DEV_CLIENT_ID = "cloudmarket-console"  # = api.console.DEV_CLIENT_ID (the console's client id in dev)
CODE_TTL = 60  # seconds
TOKEN_TTL = 3600
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")  # base64url(SHA-256), no padding
_SUB = re.compile(r"[A-Za-z0-9|_.:@\-]{1,128}")


class OAuthError(Exception):
    """An RFC 6749 error: rendered as ``{"error", "error_description"}`` (never the API's envelope)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def allowed_redirect_uris(origins: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for origin in origins:
        o = origin.strip().rstrip("/")
        if o:
            out |= {o, o + "/"}
    return frozenset(out)


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    code_challenge: str
    scope: str
    audience: str

    def hidden_fields(self) -> dict[str, str]:
        out = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
            "scope": self.scope,
            "audience": self.audience,
            "response_type": "code",
        }
        if self.nonce is not None:
            out["nonce"] = self.nonce
        return out


@dataclass(frozen=True)
class _Code:
    request: AuthorizeRequest
    sub: str
    roles: tuple[str, ...]
    expires_at: float


@dataclass
class DevOidc:
    issuer: DevIssuer
    redirect_uris: frozenset[str]
    roles_claim: str = "permissions"
    clock: Callable[[], float] = time.time
    client_id: str = DEV_CLIENT_ID
    _codes: dict[str, _Code] = field(default_factory=dict)

    # ---- discovery ------------------------------------------------------------------------------
    def discovery(self, base: str) -> dict[str, Any]:
        return {
            "issuer": DEV_ISSUER,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "jwks_uri": f"{base}/jwks.json",
            "end_session_endpoint": f"{base}/v2/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "web_message"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "azp", self.roles_claim],
        }

    # ---- authorize ------------------------------------------------------------------------------
    def check_redirect(self, params: dict[str, str]) -> str:
        """The redirect URI when it is allowed; :class:`OAuthError` (shown to the user, never redirected to)
        for an unknown client or a redirect URI that is not an exact match."""
        if params.get("client_id") != self.client_id:
            raise OAuthError(
                "unauthorized_client", f"unknown client_id (the dev client is {self.client_id!r})"
            )
        uri = params.get("redirect_uri", "")
        if uri not in self.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is not one of the console's origins")
        return uri

    def parse_authorize(self, params: dict[str, str]) -> AuthorizeRequest:
        """Validate an authorization request (the redirect URI first: see :meth:`check_redirect`).
        :class:`OAuthError` for anything else that is wrong (the caller redirects it back with ``state``)."""
        uri = self.check_redirect(params)
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code is supported")
        if params.get("code_challenge_method") != "S256":
            raise OAuthError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        challenge = params.get("code_challenge", "")
        if not _CHALLENGE.fullmatch(challenge):
            raise OAuthError("invalid_request", "code_challenge must be base64url(SHA-256(verifier))")
        audience = params.get("audience") or DEV_AUDIENCE
        if audience != DEV_AUDIENCE:
            raise OAuthError("invalid_request", f"unknown audience (the dev audience is {DEV_AUDIENCE!r})")
        return AuthorizeRequest(
            client_id=self.client_id,
            redirect_uri=uri,
            state=params.get("state", ""),
            nonce=params.get("nonce"),
            code_challenge=challenge,
            scope=params.get("scope") or "openid",
            audience=audience,
        )

    def issue_code(self, req: AuthorizeRequest, sub: str, roles: Iterable[str]) -> str:
        if not _SUB.fullmatch(sub):
            raise OAuthError("invalid_request", "the user id must be 1-128 of [A-Za-z0-9|_.:@-]")
        role_list = tuple(sorted(set(roles)))
        unknown = set(role_list) - KNOWN_ROLES
        if unknown:
            raise OAuthError("invalid_request", f"unknown roles: {sorted(unknown)}")
        now = self.clock()
        self._codes = {c: v for c, v in self._codes.items() if v.expires_at > now}  # drop expired ones
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(req, sub, role_list, now + CODE_TTL)
        return code

    @staticmethod
    def redirect_with(uri: str, params: dict[str, str]) -> str:
        return uri + ("&" if "?" in uri else "?") + urlencode(params)

    # ---- token ----------------------------------------------------------------------------------
    def exchange(self, params: dict[str, str]) -> dict[str, Any]:
        """``grant_type=authorization_code`` → Auth0's token response; :class:`OAuthError` otherwise."""
        if params.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only grant_type=authorization_code is supported")
        if params.get("client_id") != self.client_id:
            raise OAuthError("invalid_client", "unknown client_id", status=401)
        # single use: the code leaves the store on its first exchange, whatever the outcome
        entry = self._codes.pop(params.get("code", ""), None)
        if entry is None or entry.expires_at <= self.clock():
            raise OAuthError("invalid_grant", "the authorization code is invalid, expired or already used")
        if params.get("redirect_uri") != entry.request.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request's")
        verifier = params.get("code_verifier", "")
        if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), entry.request.code_challenge
        ):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        now = int(self.clock())
        access = self.issuer.mint(entry.roles, entry.sub, TOKEN_TTL, roles_claim=self.roles_claim, now=now)
        id_claims: dict[str, Any] = {
            "iss": DEV_ISSUER,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": entry.sub,
            "iat": now,
            "exp": now + TOKEN_TTL,
            "name": entry.sub,
            "nickname": entry.sub.split("|")[-1],
            self.roles_claim: list(entry.roles),
        }
        if entry.request.nonce is not None:
            id_claims["nonce"] = entry.request.nonce
        return {
            "access_token": access,
            "id_token": self.issuer.sign(id_claims),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "scope": entry.request.scope,
        }


# ---- HTML -------------------------------------------------------------------------------------------
def login_page(req: AuthorizeRequest, action: str, roles: Iterable[str], error: str | None = None) -> str:
    hidden = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in req.hidden_fields().items()
    )
    boxes = "\n".join(
        f'<label><input type="checkbox" name="role" value="{r}" data-testid="dev-login-role-{r}"'
        f"{' checked' if r == 'cloud-user' else ''}> {r}</label><br>"
        for r in sorted(roles)
    )
    err = f'<p role="alert" style="color:#b00">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cloudmarket dev login</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem}}
input[type=text]{{width:100%;padding:.4rem;margin:.3rem 0 1rem}}button{{padding:.5rem 1.2rem}}
.note{{color:#666;font-size:13px}}</style></head>
<body><h1>Dev login</h1>
<p class="note">The local dev issuer stands in for Auth0 (dev only). Pick a user id and roles.</p>{err}
<form method="post" action="{html.escape(action)}">
{hidden}
<label for="sub">User id</label>
<input type="text" id="sub" name="sub" value="{html.escape(DEFAULT_SUB)}" data-testid="dev-login-sub">
{boxes}
<p><button type="submit" data-testid="dev-login-submit">Log in</button></p>
</form></body></html>
"""


def web_message_page(redirect_uri: str, response: dict[str, str]) -> str:
    """What Auth0 answers a ``response_mode=web_message`` request with: a page posting the response to the
    parent window (the SDK's hidden iframe), targeted at the redirect URI's origin."""
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    payload = json.dumps({"type": "authorization_response", "response": response}).replace("<", "\\u003c")
    return (
        "<!doctype html><html><head><title>Authorization Response</title></head><body><script>"
        f"(window.opener||window.parent).postMessage({payload}, {json.dumps(origin)});"
        "</script></body></html>"
    )
