"""The indexed view of ``AllianceSplits`` (the chain is the truth; these rows are for queries and history).

* ``alliances``: one row per on-chain alliance id, from ``AllianceProposed``; ``total_shares`` from
  ``WeightChanged``, ``received`` (credit units booked) from ``RevenueBooked``. ``last_block`` /
  ``last_log`` is the position of the last event applied to the alliance or its members: older or equal
  events are skipped, so a replayed range changes nothing.
* ``alliance_members``: one row per (alliance, account) ever invited; ``claimed`` sums ``Claimed``.
* ``alliance_nodes``: the registry nodes contributed now (``NodeContributed`` .. ``NodeWithdrawn``).
* ``alliance_texts``: the plain name / terms behind a hash, stored by the create command, so the indexed
  alliance can show its name (the chain keeps the hashes only).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import Base

# IAllianceSplits.MemberStatus, lower-case (chain.alliances.MEMBER_STATUSES)
INVITED = "invited"
ACTIVE = "active"
LEAVING = "leaving"
SUSPENDED = "suspended"
LEFT = "left"
MEMBER_STATES: frozenset[str] = frozenset({INVITED, ACTIVE, LEAVING, SUSPENDED})  # in the alliance


def utcnow() -> datetime:
    return datetime.now(UTC)


class Alliance(Base):
    __tablename__ = "alliances"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # on-chain id
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    name_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    terms_hash: Mapped[str] = mapped_column(String(66), nullable=False)
    proposer: Mapped[str] = mapped_column(String(42), nullable=False)  # EIP-55
    admin: Mapped[str] = mapped_column(String(42), nullable=False, index=True)
    notice_period: Mapped[int] = mapped_column(BigInteger, nullable=False)  # seconds
    max_units_per_node: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_shares: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    received: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # credit units booked
    created_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_block: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_log: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)


class AllianceMember(Base):
    __tablename__ = "alliance_members"

    alliance_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("alliances.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    account: Mapped[str] = mapped_column(String(42), primary_key=True, index=True)  # EIP-55
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=INVITED)
    weight: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    nodes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    leave_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # Unix seconds
    claimed: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # credit units


class AllianceNode(Base):
    __tablename__ = "alliance_nodes"

    chain_node_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    alliance_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("alliances.id", ondelete="CASCADE"), nullable=False, index=True
    )
    member: Mapped[str] = mapped_column(String(42), nullable=False)
    units: Mapped[int] = mapped_column(BigInteger, nullable=False)
    exit_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AllianceText(Base):
    __tablename__ = "alliance_texts"

    hash: Mapped[str] = mapped_column(String(66), primary_key=True)  # 0x + keccak256 hex
    text: Mapped[str] = mapped_column(Text, nullable=False)
