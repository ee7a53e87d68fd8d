"""Who is calling: a :class:`Principal`, and the role names."""

from __future__ import annotations

from dataclasses import dataclass, field

CLOUD_USER = "cloud-user"
CLOUD_PROVIDER = "cloud-provider"
CLOUD_OPERATOR = "cloud-operator"
KNOWN_ROLES: frozenset[str] = frozenset({CLOUD_USER, CLOUD_PROVIDER, CLOUD_OPERATOR})

# where a principal came from
SOURCE_AUTH0 = "auth0"
SOURCE_DEV = "dev"
SOURCE_SESSION = "siwe-session"
SOURCE_NODE = "node"


@dataclass(frozen=True)
class Principal:
    """A user (``user_id``/``sub``/``roles``) or a node agent (``node_id``, no roles), never both."""

    source: str
    user_id: int | None = None
    sub: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    wallets: tuple[str, ...] = ()
    node_id: int | None = None

    @property
    def is_node(self) -> bool:
        return self.node_id is not None

    def has_role(self, *roles: str) -> bool:
        return not self.is_node and bool(self.roles.intersection(roles))


def roles_from_claim(value: object) -> frozenset[str]:
    """Known roles in a claim value (a list of strings, or one string); anything else gives none."""
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return frozenset()
    return frozenset(v for v in items if isinstance(v, str) and v in KNOWN_ROLES)
