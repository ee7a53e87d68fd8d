"""The test server's core: wire-format helpers, errors, idempotency, the HTTP plumbing, lists, the clock.

:class:`StripeServerCore` holds the state (objects, recorded requests, stored idempotent responses, the
clock) and serves every request through ``_route`` over the table its subclass provides (``_table``);
the resource modules add the endpoints as mixins (:mod:`tests.support.stripe_server.server` puts them
together). ``sign_payload`` signs webhook bodies as Stripe does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import operator
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

API_VERSION = "2025-08-27.basil"
DEFAULT_SECRET_KEY = "sk_test_cloudmarket_local"
DEFAULT_WEBHOOK_SECRET = "whsec_cloudmarket_local"
MIN_CHARGE_CENTS = 50
SUPPORTED_CURRENCIES = frozenset({"usd", "eur", "gbp"})

TEST_CARDS: dict[str, dict[str, Any]] = {
    "pm_card_visa": {"brand": "visa", "last4": "4242", "decline": None},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444", "decline": None},
    "pm_card_chargeDeclined": {"brand": "visa", "last4": "0002", "decline": "generic_decline"},
    "pm_card_chargeDeclinedInsufficientFunds": {
        "brand": "visa",
        "last4": "9995",
        "decline": "insufficient_funds",
    },
    # 3-D Secure required on every payment: on-session the intent goes to ``requires_action``;
    # off-session (``off_session=true``) the confirmation fails with ``authentication_required``
    "pm_card_authenticationRequired": {
        "brand": "visa",
        "last4": "3184",
        "decline": "authentication_required",
    },
}

Obj = dict[str, Any]


def sign_payload(payload: bytes, *, timestamp: int, secrets_: Sequence[str]) -> str:
    """A ``Stripe-Signature`` value with one ``v1`` per secret (Stripe sends several during rotation)."""
    parts = [f"t={timestamp}"]
    for secret in secrets_:
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
        parts.append(f"v1={mac}")
    return ",".join(parts)


def decode_form(pairs: Sequence[tuple[str, str]]) -> Obj:
    """Stripe bracket syntax to nested dicts/lists: ``a[b][0][c]=v`` → ``{"a": {"b": [{"c": "v"}]}}``."""
    root: Obj = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        tokens = [head] + (re.findall(r"([^\[\]]*)\]", "[" + rest) if rest else [])
        node: Any = root
        for i, tok in enumerate(tokens):
            last = i == len(tokens) - 1
            if tok == "":  # "a[]" appends
                tok = str(len(node))
            if last:
                node[tok] = value
            else:
                node = node.setdefault(tok, {})

    def listify(x: Any) -> Any:
        if isinstance(x, dict):
            if x and all(k.isdigit() for k in x):
                return [listify(x[k]) for k in sorted(x, key=int)]
            return {k: listify(v) for k, v in x.items()}
        return x

    result: Obj = listify(root)
    return result


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    form: Obj
    query: Obj
    status: int = 0
    replayed: bool = False

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


class StripeApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: Obj | None = None,
        store: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Obj = {
            "error": {"type": type_, "message": message, "code": code, "param": param, **(extra or {})}
        }
        self.store = store  # card errors happen after execution started: Stripe stores them for replay


def _missing(kind: str, oid: str, param: str = "id") -> StripeApiError:
    return StripeApiError(
        404, "invalid_request_error", f"No such {kind}: '{oid}'", code="resource_missing", param=param
    )


def _int_param(params: Obj, name: str, *, required: bool = True) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"Missing required param: {name}.",
                code="parameter_missing",
                param=name,
            )
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"-?[0-9]+", raw):
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"Invalid integer: {raw}",
            code="parameter_invalid_integer",
            param=name,
        )
    return int(raw)


def _bool_param(params: Obj, name: str) -> bool:
    return params.get(name) == "true"


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class StripeServerCore:
    secret_key: str = DEFAULT_SECRET_KEY
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    requests: list[RecordedRequest] = field(default_factory=list)
    objects: dict[str, Obj] = field(default_factory=dict)
    events: list[Obj] = field(default_factory=list)
    clock_offset: int = 0

    def __post_init__(self) -> None:
        self._idem: dict[tuple[str, str], _Stored] = {}
        self._declines: dict[str, str | None] = {}  # pm id -> decline code
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        app = web.Application()
        self._add_routes(app)  # routes a subclass serves beside the API (the stand-in Stripe.js)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    def _add_routes(self, app: web.Application) -> None:
        """Routes matched before the API's catch-all; none here."""

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- helpers ---------------------------------------------------------------------------------
    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def advance_clock(self, seconds: int) -> None:
        self.clock_offset += seconds

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._seq):06d}{secrets.token_hex(6)}"

    def _put(self, obj: Obj) -> Obj:
        self.objects[obj["id"]] = obj
        return obj

    def _get(self, kind: str, oid: str, param: str = "id") -> Obj:
        obj = self.objects.get(oid)
        if obj is None or obj.get("object") != kind:
            raise _missing(kind, oid, param)
        return obj

    def of_kind(self, kind: str) -> list[Obj]:
        """All objects of a kind, oldest first (insertion order)."""
        return [o for o in self.objects.values() if o.get("object") == kind]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # ---- HTTP plumbing ---------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return hmac.compare_digest(auth[7:], self.secret_key)
        if auth.startswith("Basic "):
            try:
                user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except ValueError:
                return False
            return hmac.compare_digest(user, self.secret_key)
        return False

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        form_pairs = [(k, v) for k, v in _parse_qsl(raw.decode())] if request.method == "POST" else []
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            form=decode_form(form_pairs),
            query=decode_form(list(request.query.items())),
        )
        self.requests.append(rec)
        if not self._authorized(request):
            return self._reply(
                rec,
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": None,
                        "param": None,
                        "message": "Invalid API Key provided: "
                        + _redact(request.headers.get("Authorization", "")),
                    }
                },
            )
        key = rec.idempotency_key if request.method == "POST" else None
        fingerprint = json.dumps([request.method, request.path, sorted(form_pairs)])
        if key is not None:
            stored = self._idem.get((self.secret_key, key))
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    return self._reply(
                        rec,
                        400,
                        {
                            "error": {
                                "type": "idempotency_error",
                                "code": None,
                                "param": None,
                                "message": (
                                    "Keys for idempotent requests can only be used with the same "
                                    f"parameters they were first used with. Try using a key other than "
                                    f"'{key}' if you meant to execute a different request."
                                ),
                            }
                        },
                    )
                rec.status, rec.replayed = stored.status, True
                return web.Response(
                    status=stored.status,
                    body=stored.body,
                    content_type="application/json",
                    headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                )
        try:
            status, body = 200, self._route(request.method, request.path, rec.form if rec.form else rec.query)
            store = True
        except StripeApiError as err:
            status, body, store = err.status, err.body, err.store
        payload = json.dumps(body).encode()
        if key is not None and store:
            self._idem[(self.secret_key, key)] = _Stored(fingerprint, status, payload)
        rec.status = status
        headers = {"Request-Id": self._new_id("req")}
        if key is not None:
            headers["Idempotency-Key"] = key
        return web.Response(status=status, body=payload, content_type="application/json", headers=headers)

    @staticmethod
    def _reply(rec: RecordedRequest, status: int, body: Obj) -> web.Response:
        rec.status = status
        return web.json_response(body, status=status)

    def _route(self, method: str, path: str, params: Obj) -> Obj:
        for pattern, verb, fn in self._table():
            if verb != method:
                continue
            m = re.fullmatch(pattern, path)
            if m:
                result: Obj = fn(params, *m.groups())
                return result
        raise StripeApiError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _table(self) -> list[tuple[str, str, Callable[..., Obj]]]:
        """``(path regex, method, handler)`` rows; the server class lists its resources' endpoints."""
        raise NotImplementedError

    # ---- lists ----------------------------------------------------------------------------------
    def _list(self, kind: str, p: Obj, url: str, filters: tuple[str, ...]) -> Obj:
        items = list(reversed(self.of_kind(kind)))  # newest first, as Stripe lists
        for name in filters:
            if p.get(name):
                items = [o for o in items if o.get(name) == p[name]]
        created = p.get("created")
        if isinstance(created, dict):
            for op, test in (
                ("gte", operator.ge),
                ("gt", operator.gt),
                ("lte", operator.le),
                ("lt", operator.lt),
            ):
                if op in created:
                    bound = _int_param(created, op) or 0
                    items = [o for o in items if test(o["created"], bound)]
        elif created is not None:
            exact = _int_param(p, "created")
            items = [o for o in items if o["created"] == exact]
        return self._page(items, p, url)

    def _page(self, items: list[Obj], p: Obj, url: str) -> Obj:
        limit = _int_param(p, "limit", required=False) or 10
        if not 1 <= limit <= 100:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "This value must be greater than or equal to 1 and less than or equal to 100",
                code="parameter_invalid_integer",
                param="limit",
            )
        after = p.get("starting_after")
        if after:
            ids = [o["id"] for o in items]
            if after not in ids:
                raise _missing("object", after, "starting_after")
            items = items[ids.index(after) + 1 :]
        return {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}


def _parse_qsl(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(text, keep_blank_values=True, strict_parsing=False)


def _redact(auth: str) -> str:
    token = auth.split(" ", 1)[-1]
    return token[:7] + "*" * max(0, len(token) - 11) + token[-4:] if len(token) > 11 else "***"
