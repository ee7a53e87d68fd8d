"""Typed client for ``AllianceSplits`` (provider alliances; ``contracts/src/interfaces/IAllianceSplits.sol``).

Writes are calldata only: members sign their own (propose, invite, accept, contribute, node exit, leave,
claim), the operator's ``suspend`` / ``reinstate`` go through the engine's outbox; ``collect(nodeId)`` may be
sent by anyone. Reads with ``eth_call``; :meth:`AllianceSplitsClient.members_info` reads many members in ONE
multicall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address

from chain.contracts import OPERATOR_ROLE, MulticallClient, _RoleMixin
from chain.errors import ChainError

# IAllianceSplits.MemberStatus
MEMBER_STATUSES: tuple[str, ...] = ("none", "invited", "active", "leaving", "suspended", "left")
ACC_SCALE = 10**36  # the accumulator's scale (accPerShare is credit units per unit of weight x 1e36)
_MEMBER_INFO_TYPES = ["(uint8,uint32,uint32,uint64,uint64,uint256)"]


@dataclass(frozen=True)
class AllianceInfo:
    admin: str
    notice_period: int
    max_units_per_node: int
    member_count: int
    total_shares: int
    acc_per_share: int
    name_hash: bytes
    terms_hash: bytes


@dataclass(frozen=True)
class MemberInfo:
    status: str  # one of MEMBER_STATUSES
    leave_at: int
    nodes: int
    units: int
    weight: int
    claimable: int  # credit units claimable now


@dataclass(frozen=True)
class NodeEntry:
    alliance_id: int  # 0: not contributed
    member: str
    units: int
    exit_at: int


def _member(raw: Sequence[int]) -> MemberInfo:
    status, leave_at, nodes, units, weight, claimable = (int(x) for x in raw)
    return MemberInfo(MEMBER_STATUSES[status], leave_at, nodes, units, weight, claimable)


class AllianceSplitsClient(_RoleMixin):
    """``AllianceSplits``: many alliances in one contract, split by weight through an accumulator."""

    artifact_name = "AllianceSplits"
    OPERATOR_ROLE: ClassVar[bytes] = OPERATOR_ROLE

    # ---- member-signed ------------------------------------------------------------------------------
    def encode_propose(
        self, name_hash: bytes, terms_hash: bytes, admin: str, notice_period: int, max_units_per_node: int
    ) -> bytes:
        return self.encode(
            "propose", name_hash, terms_hash, to_checksum_address(admin), notice_period, max_units_per_node
        )

    def encode_invite(self, alliance_id: int, account: str) -> bytes:
        return self.encode("invite", alliance_id, to_checksum_address(account))

    def encode_accept(self, alliance_id: int, terms_hash: bytes) -> bytes:
        return self.encode("accept", alliance_id, terms_hash)

    def encode_contribute(self, alliance_id: int, node_id: int, units: int) -> bytes:
        return self.encode("contribute", alliance_id, node_id, units)

    def encode_request_node_exit(self, node_id: int) -> bytes:
        return self.encode("requestNodeExit", node_id)

    def encode_withdraw_node(self, node_id: int) -> bytes:
        return self.encode("withdrawNode", node_id)

    def encode_request_leave(self, alliance_id: int) -> bytes:
        return self.encode("requestLeave", alliance_id)

    def encode_leave(self, alliance_id: int) -> bytes:
        return self.encode("leave", alliance_id)

    def encode_claim(self, alliance_id: int) -> bytes:
        return self.encode("claim", alliance_id)

    # ---- anyone / operator --------------------------------------------------------------------------
    def encode_collect(self, node_id: int) -> bytes:
        return self.encode("collect", node_id)

    def encode_check_node(self, node_id: int) -> bytes:
        return self.encode("checkNode", node_id)

    def encode_suspend(self, alliance_id: int, account: str, reason: bytes) -> bytes:
        return self.encode("suspend", alliance_id, to_checksum_address(account), reason)

    def encode_reinstate(self, alliance_id: int, account: str) -> bytes:
        return self.encode("reinstate", alliance_id, to_checksum_address(account))

    # ---- reads --------------------------------------------------------------------------------------
    async def alliance_count(self) -> int:
        return int((await self.call("allianceCount"))[0])

    async def alliance_info(self, alliance_id: int, *, block: str | int = "latest") -> AllianceInfo:
        ((admin, notice, max_units, members, total, acc, name_hash, terms_hash),) = await self.call(
            "allianceInfo", alliance_id, block=block
        )
        return AllianceInfo(
            to_checksum_address(admin),
            int(notice),
            int(max_units),
            int(members),
            int(total),
            int(acc),
            bytes(name_hash),
            bytes(terms_hash),
        )

    async def member_info(self, alliance_id: int, account: str, *, block: str | int = "latest") -> MemberInfo:
        (raw,) = await self.call("memberInfo", alliance_id, to_checksum_address(account), block=block)
        return _member(raw)

    async def claimable(self, alliance_id: int, account: str) -> int:
        return int((await self.call("claimable", alliance_id, to_checksum_address(account)))[0])

    async def node_entry(self, node_id: int) -> NodeEntry:
        ((alliance_id, member, units, exit_at),) = await self.call("nodeEntry", node_id)
        return NodeEntry(int(alliance_id), to_checksum_address(member), int(units), int(exit_at))

    async def members_info(
        self,
        multicall: MulticallClient,
        alliance_id: int,
        accounts: Sequence[str],
        *,
        block: str | int = "latest",
    ) -> list[MemberInfo]:
        """``memberInfo`` of every account in ONE ``eth_call`` (a multicall ``aggregate``), at one block."""
        if not accounts:
            return []
        calls = [
            (self.address, self.encode("memberInfo", alliance_id, to_checksum_address(a))) for a in accounts
        ]
        out: list[MemberInfo] = []
        for ok, data in await multicall.aggregate(calls, block=block):
            if not ok:  # a view of ours does not revert; a failed call means a broken node answer
                raise ChainError(f"memberInfo failed in multicall for alliance {alliance_id}")
            (raw,) = abi_decode(_MEMBER_INFO_TYPES, data)
            out.append(_member(raw))
        return out
