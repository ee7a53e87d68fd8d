"""Who may call a route: the ``roles=`` a :class:`api.openapi.RouteTable` route declares, checked before
its body is read and rendered in the OpenAPI document (security requirement + ``x-roles``).

``roles`` is one of

* ``(CLOUD_USER,)``, ``(CLOUD_PROVIDER, CLOUD_OPERATOR)``, ...: a signed-in user holding at least one of
  them (:func:`api.auth.middleware.require_role` in the handler answers the same);
* :data:`SIGNED_IN` (``()``): any signed-in user, whatever their roles (``require_user``);
* :data:`NODE_ONLY` (``(NODE_AGENT,)``): a node token (the handler's ``require_node`` then checks that it is
  the token of the node in the path).

Node tokens are refused (403) on user routes and user tokens on node routes. Handlers keep their
``require_role`` / ``require_node`` calls: the principal is cached on the request, so the second check
costs nothing, and a handler stays safe if its declaration is loosened by mistake.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.auth.errors import Forbidden
from api.auth.principal import KNOWN_ROLES, Principal

Roles = tuple[str, ...]

# the caller kind of node-agent routes (not a user role: node tokens hold none)
NODE_AGENT = "node"
SIGNED_IN: Roles = ()
NODE_ONLY: Roles = (NODE_AGENT,)


def normalise_roles(roles: Sequence[str] | None) -> Roles | None:
    """``roles`` as a tuple (declaration order kept, duplicates dropped); ``None`` stays ``None``.
    Raises ``ValueError`` for an unknown role or for :data:`NODE_AGENT` mixed with user roles."""
    if roles is None:
        return None
    if isinstance(roles, str):
        raise ValueError(f"roles must be a sequence of role names, not the string {roles!r}")
    out = tuple(dict.fromkeys(roles))
    if NODE_AGENT in out and out != NODE_ONLY:
        raise ValueError(f"{NODE_AGENT!r} cannot be combined with user roles: {out!r}")
    unknown = set(out) - KNOWN_ROLES - {NODE_AGENT}
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)!r} (known: {sorted(KNOWN_ROLES)!r})")
    return out


def check_access(principal: Principal, roles: Roles) -> None:
    """403 ``forbidden`` unless ``principal`` is a caller ``roles`` admits (see the module docstring)."""
    if roles == NODE_ONLY:
        if not principal.is_node:
            raise Forbidden("a node token is required")
        return
    if principal.is_node:
        raise Forbidden("node tokens are accepted only on node-agent routes")
    if roles and not principal.has_role(*roles):
        raise Forbidden("missing role", details={"required_any_of": sorted(roles)})
