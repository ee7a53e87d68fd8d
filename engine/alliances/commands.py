"""Alliance commands (issue 13). Providers are wallet-connected: every command that changes something
returns the unsigned transactions for the provider's own wallet (``AllianceSplits`` calls, and the
registry's ``setNodePayee`` when a node's payee must point at the splits contract or back at the provider);
the engine learns the outcome from indexed events (:mod:`engine.alliances.events`). Reads of weights and
revenue come from the chain, all members in one multicall. Only an alliance's admin and its members (any
wallet of the caller that was invited) see or act on it; anyone else gets ``alliance_not_found``.

The operator's commands (:func:`set_member_suspended`, :func:`operator_overview`) are the exception: the
marketplace's ``OPERATOR_ROLE`` is the backend signer's, so ``suspend`` / ``reinstate`` go through the outbox
(one row per member action generation, :func:`engine.alliances.services.outbox_generation`) and the member
is notified in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.address import is_hex_address, to_checksum_address
from eth_utils.crypto import keccak

from chain.alliances import AllianceSplitsClient, MemberInfo
from chain.contracts import OPERATOR_ROLE, UnsignedTx
from engine.alliances import services
from engine.alliances.errors import (
    AllianceNotFound,
    AlreadyMember,
    BadAddress,
    InvalidMemberStatus,
    NodeAlreadyContributed,
    NodeNotInAlliance,
    NotAllianceAdmin,
    NotAMember,
    NothingToClaim,
    OperatorRoleMissing,
)
from engine.alliances.models import (
    ACTIVE,
    INVITED,
    LEAVING,
    MEMBER_STATES,
    SUSPENDED,
    Alliance,
    AllianceMember,
    AllianceNode,
)
from engine.context import Context
from engine.errors import ContractMissing
from engine.identity.services import user_for_address
from engine.money import CreditUnits
from engine.notifications.services import notify
from engine.outbox.services import enqueue


@dataclass(frozen=True)
class NewAlliance:
    """What a provider proposes (validated at the edge)."""

    wallet: str  # the proposer (first member), one of the caller's wallets
    name: str
    terms: str
    admin: str | None  # None: the proposer
    notice_period: int  # seconds
    max_units_per_node: int


@dataclass(frozen=True)
class AllianceTxs:
    """What to sign: ``step`` names what the transactions do (e.g. ``request_node_exit``)."""

    alliance_id: int | None
    step: str
    transactions: tuple[UnsignedTx, ...]
    details: dict[str, int | str] | None = None


@dataclass(frozen=True)
class MemberView:
    account: str
    status: str
    weight: int
    units: int
    nodes: int
    leave_at: int | None
    claimed: CreditUnits  # indexed Claimed events
    claimable: CreditUnits  # on chain now
    earned: CreditUnits  # claimed + claimable


@dataclass(frozen=True)
class AllianceView:
    alliance: Alliance
    total_shares: int  # on chain
    members: tuple[MemberView, ...]
    nodes: tuple[AllianceNode, ...]


def _hash(text: str) -> str:
    return "0x" + keccak(text=text).hex()


def _tx(ctx: Context, splits: AllianceSplitsClient, data: bytes, sender: str, what: str) -> UnsignedTx:
    return UnsignedTx(splits.address, data, ctx.chain_id, from_address=sender, description=what)


async def create_alliance(ctx: Context, wallets: Sequence[str], new: NewAlliance) -> AllianceTxs:
    """Store the name and terms behind their hashes and build the ``propose`` transaction.

    Raises :class:`~engine.alliances.errors.NotYourWallet`, :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    wallet = services.own_wallet(wallets, new.wallet)
    admin = to_checksum_address(new.admin) if new.admin else wallet
    name_hash, terms_hash = _hash(new.name), _hash(new.terms)
    async with ctx.sessionmaker() as session, session.begin():
        await services.save_text(session, name_hash, new.name)
        await services.save_text(session, terms_hash, new.terms)
    data = splits.encode_propose(
        bytes.fromhex(name_hash[2:]),
        bytes.fromhex(terms_hash[2:]),
        admin,
        new.notice_period,
        new.max_units_per_node,
    )
    tx = _tx(ctx, splits, data, wallet, "propose the alliance")
    return AllianceTxs(None, "propose", (tx,), {"name_hash": name_hash, "terms_hash": terms_hash})


async def list_alliances(ctx: Context, wallets: Sequence[str]) -> list[Alliance]:
    """The alliances the caller's wallets administer or belong to (indexed), newest first. Raises nothing."""
    async with ctx.sessionmaker() as session:
        return await services.alliances_of(session, wallets)


async def alliance_detail(ctx: Context, wallets: Sequence[str], alliance_id: int) -> AllianceView:
    """The alliance, its nodes, and every member's weight and revenue read on chain in ONE multicall.

    Raises :class:`~engine.alliances.errors.AllianceNotFound`, :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    multicall = ctx.contracts.multicall
    if multicall is None:
        raise ContractMissing("Multicall")
    async with ctx.sessionmaker() as session:
        alliance = await services.visible_alliance(session, alliance_id, wallets)
        rows = await services.members(session, alliance_id)
        nodes = await services.nodes_of(session, alliance_id)
    block = int(await ctx.chain.w3.eth.block_number)
    infos: list[MemberInfo] = await splits.members_info(
        multicall, alliance_id, [r.account for r in rows], block=block
    )
    views = tuple(
        MemberView(
            account=r.account,
            status=info.status,
            weight=info.weight,
            units=info.units,
            nodes=info.nodes,
            leave_at=info.leave_at or None,
            claimed=CreditUnits(r.claimed),
            claimable=CreditUnits(info.claimable),
            earned=CreditUnits(r.claimed + info.claimable),
        )
        for r, info in zip(rows, infos, strict=True)
    )
    return AllianceView(alliance, sum(v.weight for v in views), views, tuple(nodes))


async def invite_member(ctx: Context, wallets: Sequence[str], alliance_id: int, account: str) -> AllianceTxs:
    """The admin's ``invite`` transaction.

    Raises :class:`~engine.alliances.errors.AllianceNotFound`,
    :class:`~engine.alliances.errors.NotAllianceAdmin`, :class:`~engine.alliances.errors.AlreadyMember`,
    :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    account = to_checksum_address(account)
    async with ctx.sessionmaker() as session:
        alliance = await services.visible_alliance(session, alliance_id, wallets)
        if alliance.admin not in {to_checksum_address(w) for w in wallets}:
            raise NotAllianceAdmin(alliance_id)
        existing = await services.my_membership(session, alliance_id, [account], MEMBER_STATES)
    if existing is not None:
        raise AlreadyMember(alliance_id, account, existing.status)
    tx = _tx(ctx, splits, splits.encode_invite(alliance_id, account), alliance.admin, f"invite {account}")
    return AllianceTxs(alliance_id, "invite", (tx,))


async def accept_invitation(ctx: Context, wallets: Sequence[str], alliance_id: int) -> AllianceTxs:
    """The invited wallet's ``accept`` of the alliance's terms hash.

    Raises :class:`~engine.alliances.errors.AllianceNotFound`, :class:`~engine.alliances.errors.NotAMember`
    (no invited wallet), :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    async with ctx.sessionmaker() as session:
        alliance = await services.visible_alliance(session, alliance_id, wallets)
        member = await services.my_membership(session, alliance_id, wallets, frozenset({INVITED}))
    if member is None:
        raise NotAMember(alliance_id, INVITED)
    data = splits.encode_accept(alliance_id, bytes.fromhex(alliance.terms_hash[2:]))
    return AllianceTxs(alliance_id, "accept", (_tx(ctx, splits, data, member.account, "accept the terms"),))


async def contribute_node(
    ctx: Context, user_id: int, wallets: Sequence[str], alliance_id: int, node_id: int
) -> AllianceTxs:
    """Point the node's payee at the splits contract (when it is not yet) and ``contribute`` it with its
    capacity units (:func:`engine.alliances.services.capacity_units`). The node's wallet must be an active
    member.

    Raises :class:`~engine.alliances.errors.AllianceNotFound`, :class:`~engine.alliances.errors.NodeNotFound`,
    :class:`~engine.alliances.errors.NodeNotOnChain`, :class:`~engine.alliances.errors.NotAMember`,
    :class:`~engine.alliances.errors.NodeAlreadyContributed`, :class:`~engine.errors.ContractMissing`."""
    splits, registry = ctx.contracts.require_alliances(), ctx.contracts.require_registry()
    async with ctx.sessionmaker() as session:
        alliance = await services.visible_alliance(session, alliance_id, wallets)
        node = await services.own_chain_node(session, user_id, node_id)
        member = await services.my_membership(
            session, alliance_id, [node.wallet_address or ""], frozenset({ACTIVE})
        )
    if member is None:
        raise NotAMember(alliance_id, ACTIVE)
    chain_id = int(node.chain_node_id or 0)
    entry = await splits.node_entry(chain_id)
    if entry.alliance_id != 0:
        raise NodeAlreadyContributed(node_id, entry.alliance_id)
    units = services.capacity_units(node, alliance.max_units_per_node)
    txs: list[UnsignedTx] = []
    if (await registry.node_info(chain_id)).payee != splits.address:
        txs.append(
            UnsignedTx(
                registry.address,
                registry.encode_set_node_payee(chain_id, splits.address),
                ctx.chain_id,
                from_address=member.account,
                description="pay the node's earnings to the alliance",
            )
        )
    txs.append(
        _tx(ctx, splits, splits.encode_contribute(alliance_id, chain_id, units), member.account, "contribute")
    )
    return AllianceTxs(alliance_id, "contribute", tuple(txs), {"chain_node_id": chain_id, "units": units})


async def withdraw_node(
    ctx: Context, user_id: int, wallets: Sequence[str], alliance_id: int, node_id: int
) -> AllianceTxs:
    """Take a node out: first ``requestNodeExit`` (notice); once the notice passed (or the member's leave
    notice, or while suspended) ``withdrawNode`` and the registry payee back to the provider's wallet.

    Raises :class:`~engine.alliances.errors.AllianceNotFound`, :class:`~engine.alliances.errors.NodeNotFound`,
    :class:`~engine.alliances.errors.NodeNotOnChain`, :class:`~engine.alliances.errors.NodeNotInAlliance`,
    :class:`~engine.errors.ContractMissing`."""
    splits, registry = ctx.contracts.require_alliances(), ctx.contracts.require_registry()
    async with ctx.sessionmaker() as session:
        await services.visible_alliance(session, alliance_id, wallets)
        node = await services.own_chain_node(session, user_id, node_id)
    chain_id = int(node.chain_node_id or 0)
    entry = await splits.node_entry(chain_id)
    if entry.alliance_id != alliance_id:
        raise NodeNotInAlliance(node_id, alliance_id)
    member = await splits.member_info(alliance_id, entry.member)
    now = await ctx.chain_now()
    ready = [t for t in (entry.exit_at, member.leave_at if member.status == LEAVING else 0) if t]
    if member.status != SUSPENDED and not any(t <= now for t in ready):
        if entry.exit_at:
            return AllianceTxs(alliance_id, "wait", (), {"available_at": min(ready)})
        data = splits.encode_request_node_exit(chain_id)
        return AllianceTxs(
            alliance_id, "request_node_exit", (_tx(ctx, splits, data, entry.member, "give notice"),)
        )
    back = UnsignedTx(
        registry.address,
        registry.encode_set_node_payee(chain_id, entry.member),
        ctx.chain_id,
        from_address=entry.member,
        description="pay the node's earnings to the provider again",
    )
    withdraw = _tx(ctx, splits, splits.encode_withdraw_node(chain_id), entry.member, "withdraw the node")
    return AllianceTxs(alliance_id, "withdraw_node", (withdraw, back))


async def collect_node(
    ctx: Context, wallets: Sequence[str], alliance_id: int, chain_node_id: int
) -> AllianceTxs:
    """``collect(nodeId)``: move a contributed node's escrow earnings into the alliance (any member sends it).

    Raises :class:`~engine.alliances.errors.AllianceNotFound`, :class:`~engine.alliances.errors.NotAMember`,
    :class:`~engine.alliances.errors.NodeNotInAlliance`, :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    async with ctx.sessionmaker() as session:
        await services.visible_alliance(session, alliance_id, wallets)
        member = await services.my_membership(session, alliance_id, wallets, MEMBER_STATES - {INVITED})
    if member is None:
        raise NotAMember(alliance_id, ACTIVE)
    if (await splits.node_entry(chain_node_id)).alliance_id != alliance_id:
        raise NodeNotInAlliance(chain_node_id, alliance_id)
    data = splits.encode_collect(chain_node_id)
    return AllianceTxs(alliance_id, "collect", (_tx(ctx, splits, data, member.account, "collect earnings"),))


async def claim_revenue(ctx: Context, wallets: Sequence[str], alliance_id: int) -> AllianceTxs:
    """``claim`` for the caller's wallet that can claim most (a left member still claims what it earned).

    Raises :class:`~engine.alliances.errors.AllianceNotFound`,
    :class:`~engine.alliances.errors.NothingToClaim`, :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    async with ctx.sessionmaker() as session:
        await services.visible_alliance(session, alliance_id, wallets)
    best, amount = "", 0
    for wallet in sorted({to_checksum_address(w) for w in wallets}):
        claimable = await splits.claimable(alliance_id, wallet)
        if claimable > amount:
            best, amount = wallet, claimable
    if amount == 0:
        raise NothingToClaim(alliance_id, ",".join(sorted(wallets)))
    tx = _tx(ctx, splits, splits.encode_claim(alliance_id), best, "claim alliance revenue")
    return AllianceTxs(alliance_id, "claim", (tx,), {"account": best, "amount": amount})


async def leave_alliance(ctx: Context, wallets: Sequence[str], alliance_id: int) -> AllianceTxs:
    """``requestLeave`` for an active member; ``leave`` once the notice passed (nodes withdrawn first) or
    while suspended.

    Raises :class:`~engine.alliances.errors.AllianceNotFound`, :class:`~engine.alliances.errors.NotAMember`,
    :class:`~engine.errors.ContractMissing`."""
    splits = ctx.contracts.require_alliances()
    async with ctx.sessionmaker() as session:
        await services.visible_alliance(session, alliance_id, wallets)
        member = await services.my_membership(
            session, alliance_id, wallets, frozenset({ACTIVE, LEAVING, SUSPENDED})
        )
    if member is None:
        raise NotAMember(alliance_id, ACTIVE)
    if member.status == ACTIVE:
        data = splits.encode_request_leave(alliance_id)
        return AllianceTxs(
            alliance_id, "request_leave", (_tx(ctx, splits, data, member.account, "give notice"),)
        )
    data = splits.encode_leave(alliance_id)
    return AllianceTxs(alliance_id, "leave", (_tx(ctx, splits, data, member.account, "leave the alliance"),))


# ---- the operator ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberAction:
    """An operator's suspend / reinstate: the member's status on chain when asked, and the outbox row that
    carries the change (``None``: the member is in that state already and nothing is pending)."""

    alliance_id: int
    account: str
    action: str  # "suspend" | "reinstate"
    chain_status: str
    outbox_key: str | None
    outbox_status: str | None


_NEEDS = {"suspend": frozenset({ACTIVE, LEAVING}), "reinstate": frozenset({SUSPENDED})}


async def set_member_suspended(
    ctx: Context,
    actor_user_id: int | None,
    alliance_id: int,
    account: str,
    suspended: bool,
    reason: str | None = None,
) -> MemberAction:
    """Enqueue ``suspend(alliance, account, keccak(reason))`` or ``reinstate(alliance, account)`` (backend
    signer, ``OPERATOR_ROLE``) and notify the member's user, in one transaction. Idempotent per (alliance,
    member, action generation): the key is ``alliance-member:<chain>:<alliance>:<account>:<generation>:
    <action>`` with the generation counted BEFORE the chain read (as :mod:`engine.outbox.admin` does), so a
    repeated click, or two operators racing, make one row; after it is final the next action gets a new key.
    A member already in the wanted state with nothing pending: nothing enqueued.

    Raises :class:`~engine.alliances.errors.BadAddress` (400),
    :class:`~engine.alliances.errors.AllianceNotFound` (not indexed),
    :class:`~engine.alliances.errors.InvalidMemberStatus` (409: e.g. suspending a member that left),
    :class:`~engine.alliances.errors.OperatorRoleMissing` (503), :class:`~engine.errors.ContractMissing`."""
    if not is_hex_address(account):
        raise BadAddress(account)
    splits = ctx.contracts.require_alliances()
    account = to_checksum_address(account)
    action = "suspend" if suspended else "reinstate"
    prefix = services.member_prefix(ctx.chain_id, alliance_id, account)
    async with ctx.sessionmaker() as session, session.begin():
        alliance = await session.get(Alliance, alliance_id)
        if alliance is None:
            raise AllianceNotFound(alliance_id)
        generation, pending = await services.outbox_generation(session, prefix)  # before the chain read
        status = (await splits.member_info(alliance_id, account)).status
        if not pending:
            if status == (SUSPENDED if suspended else ACTIVE):
                return MemberAction(alliance_id, account, action, status, None, None)
            if status not in _NEEDS[action]:
                raise InvalidMemberStatus(alliance_id, account, status, action)
        if not await splits.has_role(OPERATOR_ROLE, ctx.signer_address):
            raise OperatorRoleMissing(ctx.signer_address)
        reason_hash = _hash(reason) if reason else "0x" + "00" * 32
        if reason:
            await services.save_text(session, reason_hash, reason)
        data = (
            splits.encode_suspend(alliance_id, account, bytes.fromhex(reason_hash[2:]))
            if suspended
            else splits.encode_reinstate(alliance_id, account)
        )
        key = f"{prefix}{generation}:{action}"
        row = await enqueue(
            session,
            kind=f"alliances.{action}",
            to=splits.address,
            data=data,
            idempotency_key=key,
            args={"alliance_id": alliance_id, "account": account, "actor_user_id": actor_user_id},
        )
        user = await user_for_address(session, account)
        if user is not None:
            name = alliance.name or f"#{alliance_id}"
            if suspended:
                title = f"Suspended from alliance {name}"
                body = (
                    f"The marketplace operator suspends your membership ({account}) in alliance {name}: your "
                    "weight is zero until you are reinstated; what you earned stays claimable."
                    + (f" Reason: {reason}" if reason else "")
                )
            else:
                title = f"Reinstated in alliance {name}"
                body = f"The marketplace operator reinstates your membership ({account}) in alliance {name}."
            payload = {"alliance_id": alliance_id, "account": account, "action": action, "outbox_key": key}
            await notify(
                session, user.id, f"alliance_member_{action}", key, title, body, payload, now=ctx.clock()
            )
    return MemberAction(alliance_id, account, action, status, row.idempotency_key, str(row.status))


@dataclass(frozen=True)
class AllianceSummary:
    alliance: Alliance
    members: tuple[AllianceMember, ...]  # indexed rows
    nodes: int  # contributed now (indexed)


async def operator_overview(ctx: Context, *, limit: int = 500) -> list[AllianceSummary]:
    """Every alliance (newest ``limit``) with its members' indexed status, weight, units and claims. Raises
    nothing of its own."""
    async with ctx.sessionmaker() as session:
        rows = await services.all_alliances(session, limit)
    return [AllianceSummary(a, tuple(members), nodes) for a, members, nodes in rows]
