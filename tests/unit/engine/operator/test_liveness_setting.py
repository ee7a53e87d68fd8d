"""The operator's ``node_offline_after`` decides liveness wherever the policy comes from the settings
(``LivenessPolicy.from_settings``: the scheduler's health sweep, placement candidates, failover,
heartbeats); without a stored operator value the environment's ``CLOUDMARKET_NODE_OFFLINE_AFTER`` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from engine.identity.services import ensure_user
from engine.nodes.models import Node
from engine.operator import services as operator
from engine.settings import Settings
from engine.workloads.heartbeats import LivenessPolicy, node_health
from engine.workloads.models import NodeLiveness

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def _node_seen(session: AsyncSession, seconds_ago: int) -> int:
    user = await ensure_user(session, "dev|liveness-provider")
    node = Node(provider_user_id=user.id, name="n")
    session.add(node)
    await session.flush()
    seen = NOW - timedelta(seconds=seconds_ago)
    session.add(NodeLiveness(node_id=node.id, first_seen_at=seen, last_seen_at=seen))
    await session.flush()
    return node.id


async def test_operator_value_marks_a_node_offline_sooner(db_session: AsyncSession) -> None:
    node_id = await _node_seen(db_session, 30)
    settings = Settings(node_offline_after=60)
    policy = LivenessPolicy.from_settings(settings)
    assert (await node_health(db_session, [node_id], now=NOW, policy=policy))[node_id].online

    overrides = operator.overrides_from_settings(settings)[operator.SETTINGS]
    await operator.update(
        db_session, operator.SETTINGS, {"node_offline_after": 20}, actor_user_id=None, overrides=overrides
    )
    assert not (await node_health(db_session, [node_id], now=NOW, policy=policy))[node_id].online
    assert (await policy.resolved(db_session)).offline_after == 20

    # a policy not built from settings (explicit values, e.g. a test's) is not overridden
    fixed = LivenessPolicy(offline_after=60)
    assert (await node_health(db_session, [node_id], now=NOW, policy=fixed))[node_id].online


async def test_environment_default_without_an_operator_value(db_session: AsyncSession) -> None:
    node_id = await _node_seen(db_session, 30)
    strict = LivenessPolicy.from_settings(Settings(node_offline_after=10))
    assert not (await node_health(db_session, [node_id], now=NOW, policy=strict))[node_id].online
    assert (await strict.resolved(db_session)).offline_after == 10
