"""Who may call what: the expected HTTP status of every route for each kind of caller.

:mod:`tests.api.test_role_matrix` sends one request per route in the app's registry
(``app[ROUTE_SPECS]``, the same list ``/openapi.json`` is built from) for each caller in :data:`CALLERS`,
and compares the status with :data:`MATRIX`. A registered route without an entry fails the test, and so
does an entry whose route no longer exists: adding a route means adding its row here.

Callers
    ``anonymous`` no ``Authorization`` header; ``cloud-user`` / ``cloud-provider`` / ``cloud-operator``
    a dev-issuer token holding exactly that role (each its own user); ``node`` a node token of the
    ``cloud-provider`` caller's node ``{node_id}``.

How to add your routes (billing and later issues)
    1. Add one entry per route to :data:`MATRIX`, keyed ``(METHOD, openapi_path)`` exactly as the route
       appears in ``/openapi.json`` (``/api/x/{id}``, regex stripped).
    2. Build the expectation with a helper: :func:`public`, :func:`signed_in`, :func:`role` or
       :func:`node_only`, giving the status the *allowed* callers get (the one a well-formed request
       succeeds with); override single callers with ``|``, e.g. ``public(200) | {"node": 401}``.
    3. Give a ``body`` (JSON value, or ``async (world) -> value`` when it must be fresh, e.g. signed) for
       routes that declare ``request=``: request validation runs before auth, so a missing body is 400 for
       everyone and would hide the auth answer. Path parameters are filled from ``world.ids``
       (``node_id``, ``token_id``, ``spare_token_id``, ``other_node_id``); if you need another object,
       create it in ``make_world`` in the test module and add its id there.
    4. Where objects have owners, add :data:`OWNERSHIP` probes: another owner's object must be refused.

The expected status is exact: 401 for a protected route without credentials, 403 for a caller without the
role (node tokens are 403 on user routes), and the success status for the allowed callers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from eth_account import Account
from eth_account.messages import encode_defunct

from engine.identity.siwe import SiweMessage

ANONYMOUS = "anonymous"
USER = "cloud-user"
PROVIDER = "cloud-provider"
OPERATOR = "cloud-operator"
NODE = "node"
CALLERS: tuple[str, ...] = (ANONYMOUS, USER, PROVIDER, OPERATOR, NODE)
USER_ROLES: tuple[str, ...] = (USER, PROVIDER, OPERATOR)
# a second provider, only used by OWNERSHIP probes
OTHER_PROVIDER = "other-provider"

Expect = dict[str, int]


@dataclass
class World:
    """What requests need: the client, the ids of objects made for the test, the callers' headers."""

    client: TestClient  # type: ignore[type-arg]
    ids: dict[str, int] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def signed_siwe(self) -> dict[str, str]:
        """A fresh nonce, a message for a fresh wallet with the service's domain/uri/chain, its signature."""
        resp = await self.client.post("/api/auth/siwe/nonce")
        assert resp.status == 201, await resp.text()
        n = await resp.json()
        acct = Account.create()
        text = SiweMessage(
            domain=n["domain"],
            address=acct.address,
            uri=n["uri"],
            version="1",
            chain_id=n["chain_id"],
            nonce=n["nonce"],
            issued_at="2020-01-01T00:00:00Z",
        ).to_text()
        sig = acct.sign_message(encode_defunct(text=text)).signature.hex()
        return {"message": text, "signature": "0x" + sig.removeprefix("0x")}


Body = Any | Callable[[World], Awaitable[Any]]


@dataclass(frozen=True)
class Row:
    expect: Expect
    body: Body = None


def public(status: int = 200) -> Expect:
    """Anyone, node tokens included."""
    return dict.fromkeys(CALLERS, status)


def signed_in(status: int = 200) -> Expect:
    """Any signed-in user whatever their roles; node tokens 403."""
    return {ANONYMOUS: 401, NODE: 403, **dict.fromkeys(USER_ROLES, status)}


def role(*allowed: str, status: int = 200) -> Expect:
    """Users holding one of ``allowed``; other users and node tokens 403."""
    assert set(allowed) <= set(USER_ROLES), allowed
    return {ANONYMOUS: 401, NODE: 403, **{r: status if r in allowed else 403 for r in USER_ROLES}}


def node_only(status: int = 200) -> Expect:
    """The node's own token only (node-agent routes)."""
    return {ANONYMOUS: 401, NODE: status, **dict.fromkeys(USER_ROLES, 403)}


NODES = "/api/cloud-provider/nodes"

MATRIX: dict[tuple[str, str], Row] = {
    # foundation
    ("GET", "/healthz"): Row(public()),
    ("GET", "/readyz"): Row(public()),
    ("GET", "/api/chain"): Row(public()),
    ("GET", "/openapi.json"): Row(public()),
    ("GET", "/metrics"): Row(public()),
    # identity
    ("GET", "/api/auth/session"): Row(signed_in()),
    ("GET", "/api/me/settings"): Row(signed_in()),
    ("PUT", "/api/me/settings"): Row(signed_in(), body={"settings": {"theme": "dark"}}),
    ("POST", "/api/auth/siwe/nonce"): Row(public(201)),
    # anonymous: wallet sign-in; users: the wallet is linked; node tokens cannot sign in
    ("POST", "/api/auth/siwe/verify"): Row(public(200) | {NODE: 401}, body=World.signed_siwe),
    ("GET", "/api/auth/dev/jwks.json"): Row(public()),
    ("GET", NODES): Row(role(PROVIDER)),
    ("POST", NODES): Row(role(PROVIDER, status=201), body={"name": "matrix node"}),
    ("POST", NODES + "/{node_id}/tokens"): Row(role(PROVIDER, status=201)),
    ("DELETE", NODES + "/{node_id}/tokens/{token_id}"): Row(role(PROVIDER)),
}


@dataclass(frozen=True)
class Probe:
    """One request by one caller on someone else's object, and the status it must get."""

    why: str
    method: str
    path: str
    caller: str
    status: int
    body: Body = None


OWNERSHIP: list[Probe] = [
    Probe(
        "a provider cannot issue tokens for another provider's node",
        "POST",
        NODES + "/{node_id}/tokens",
        OTHER_PROVIDER,
        404,
    ),
    Probe(
        "a provider cannot revoke another provider's node token",
        "DELETE",
        NODES + "/{node_id}/tokens/{token_id}",
        OTHER_PROVIDER,
        404,
    ),
    Probe(
        "a token id is only revocable under its own node",
        "DELETE",
        NODES + "/{other_node_id}/tokens/{spare_token_id}",
        OTHER_PROVIDER,
        404,
    ),
    Probe("a node id that does not exist is not found", "POST", NODES + "/999999999/tokens", PROVIDER, 404),
    # beyond the 32-bit id columns (PostgreSQL would refuse the parameter: must be 404, not 500)
    Probe(
        "an id beyond any column is not found",
        "DELETE",
        NODES + "/{node_id}/tokens/99999999999",
        PROVIDER,
        404,
    ),
]
