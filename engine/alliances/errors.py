"""Alliance errors (data as attributes and in ``details``)::

EngineError
 └── AllianceError            root of this package's errors
      ├── NotYourWallet          400 ``wallet_not_linked``: the wallet is not the caller's (``address``)
      ├── AllianceNotFound       404 ``alliance_not_found``: no such alliance, or the caller is neither a
                                 member nor its admin (``alliance_id``)
      ├── NotAllianceAdmin       403 ``not_alliance_admin``: only the admin may do this (``alliance_id``)
      ├── NotAMember             409 ``not_a_member``: none of the caller's wallets is in the state the
                                 action needs (``alliance_id``, ``needed``)
      ├── AlreadyMember          409 ``already_member``: the account is invited or a member already
                                 (``alliance_id``, ``account``, ``status``)
      ├── NodeNotFound           404 ``node_not_found``: no such node of the caller (``node_id``)
      ├── NodeNotOnChain         409 ``node_not_on_chain``: the node has no registry id yet (``node_id``)
      ├── NodeNotInAlliance      409 ``node_not_in_alliance``: the node is not contributed to this
                                 alliance (``node_id``, ``alliance_id``)
      ├── NodeAlreadyContributed 409 ``node_already_contributed``: (``node_id``, ``alliance_id``)
      ├── NothingToClaim         409 ``nothing_to_claim``: nothing claimable (``alliance_id``, ``account``)
      ├── BadAddress             400 ``invalid_address``: not a 0x-prefixed 20-byte hex address (``address``)
      ├── InvalidMemberStatus    409 ``invalid_member_status``: the member's status on chain does not allow
                                 the operator's action (``alliance_id``, ``account``, ``status``, ``action``)
      └── OperatorRoleMissing    503 ``alliance_operator_missing``: the backend signer does not hold the
                                 splits contract's ``OPERATOR_ROLE`` (``signer``), so it cannot suspend
"""

from __future__ import annotations

from engine.errors import EngineError, Kind


class AllianceError(EngineError):
    """Root of alliance errors."""

    code = "alliance_error"
    kind = Kind.INVALID


class NotYourWallet(AllianceError):
    code = "wallet_not_linked"
    kind = Kind.INVALID

    def __init__(self, address: str) -> None:
        super().__init__(f"wallet {address} is not linked to this account", details={"address": address})
        self.address = address


class AllianceNotFound(AllianceError):
    code = "alliance_not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, alliance_id: int) -> None:
        super().__init__(f"alliance {alliance_id} not found", details={"alliance_id": alliance_id})
        self.alliance_id = alliance_id


class NotAllianceAdmin(AllianceError):
    code = "not_alliance_admin"
    kind = Kind.FORBIDDEN

    def __init__(self, alliance_id: int) -> None:
        super().__init__(
            f"only the admin of alliance {alliance_id} may do this", details={"alliance_id": alliance_id}
        )
        self.alliance_id = alliance_id


class NotAMember(AllianceError):
    code = "not_a_member"
    kind = Kind.CONFLICT

    def __init__(self, alliance_id: int, needed: str) -> None:
        super().__init__(
            f"none of your wallets is {needed} in alliance {alliance_id}",
            details={"alliance_id": alliance_id, "needed": needed},
        )
        self.alliance_id = alliance_id
        self.needed = needed


class AlreadyMember(AllianceError):
    code = "already_member"
    kind = Kind.CONFLICT

    def __init__(self, alliance_id: int, account: str, status: str) -> None:
        super().__init__(
            f"{account} is already {status} in alliance {alliance_id}",
            details={"alliance_id": alliance_id, "account": account, "status": status},
        )
        self.alliance_id, self.account, self.status = alliance_id, account, status


class NodeNotFound(AllianceError):
    code = "node_not_found"
    kind = Kind.NOT_FOUND

    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} not found", details={"node_id": node_id})
        self.node_id = node_id


class NodeNotOnChain(AllianceError):
    code = "node_not_on_chain"
    kind = Kind.CONFLICT

    def __init__(self, node_id: int) -> None:
        super().__init__(f"node {node_id} is not registered on chain yet", details={"node_id": node_id})
        self.node_id = node_id


class NodeNotInAlliance(AllianceError):
    code = "node_not_in_alliance"
    kind = Kind.CONFLICT

    def __init__(self, node_id: int, alliance_id: int) -> None:
        super().__init__(
            f"node {node_id} is not contributed to alliance {alliance_id}",
            details={"node_id": node_id, "alliance_id": alliance_id},
        )
        self.node_id, self.alliance_id = node_id, alliance_id


class NodeAlreadyContributed(AllianceError):
    code = "node_already_contributed"
    kind = Kind.CONFLICT

    def __init__(self, node_id: int, alliance_id: int) -> None:
        super().__init__(
            f"node {node_id} is contributed to alliance {alliance_id} already",
            details={"node_id": node_id, "alliance_id": alliance_id},
        )
        self.node_id, self.alliance_id = node_id, alliance_id


class NothingToClaim(AllianceError):
    code = "nothing_to_claim"
    kind = Kind.CONFLICT

    def __init__(self, alliance_id: int, account: str) -> None:
        super().__init__(
            f"{account} has nothing to claim in alliance {alliance_id}",
            details={"alliance_id": alliance_id, "account": account},
        )
        self.alliance_id, self.account = alliance_id, account


class InvalidMemberStatus(AllianceError):
    code = "invalid_member_status"
    kind = Kind.CONFLICT

    def __init__(self, alliance_id: int, account: str, status: str, action: str) -> None:
        super().__init__(
            f"{account} is {status} in alliance {alliance_id}: cannot {action}",
            details={"alliance_id": alliance_id, "account": account, "status": status, "action": action},
        )
        self.alliance_id, self.account, self.status, self.action = alliance_id, account, status, action


class OperatorRoleMissing(AllianceError):
    code = "alliance_operator_missing"
    kind = Kind.UNAVAILABLE

    def __init__(self, signer: str) -> None:
        super().__init__(
            f"the backend signer {signer} does not hold OPERATOR_ROLE on AllianceSplits",
            details={"signer": signer},
        )
        self.signer = signer


class BadAddress(AllianceError):
    code = "invalid_address"
    kind = Kind.INVALID

    def __init__(self, address: str) -> None:
        super().__init__(f"not an address: {address[:64]!r}", details={"address": address[:64]})
        self.address = address
