"""``services.own_page``, the hot list read (one Core SELECT joining a page of deployments to their leases):
the same deployments, leases, lease order and field values as the ORM reads (``leases_of``), a page limit
that counts deployments (not leases), keyset paging, and nobody else's rows; SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.deployments import models as m
from engine.deployments import services
from engine.identity.models import User
from engine.nodes.models import Node


def _deployment(user_id: int, n: int) -> m.Deployment:
    return m.Deployment(
        user_id=user_id,
        spec={"command": ["run", str(n)], "resources": {"cpu_millicores": 100 * n}},
        spec_hash="0x" + f"{n:02x}" * 32,
        status=m.STARTING,
        replicas=2,
        rate_per_second=10 + n,
        payer="0x" + "22" * 20,
        funding=m.FUNDING_WALLET,
    )


def _lease(dep: m.Deployment, node: Node, index: int, role: str, **kw: object) -> m.Lease:
    return m.Lease(
        deployment_id=dep.id,
        replica_index=index,
        role=role,
        node_id=node.id,
        chain_node_id=7,
        rate_per_second=5,
        deposit=2**62,
        **kw,
    )


async def test_own_page_matches_the_orm_reads(db_session: AsyncSession) -> None:
    s = db_session
    owner, other = User(sub="dev|own-page"), User(sub="dev|own-page-other")
    s.add_all([owner, other])
    await s.flush()
    node = Node(provider_user_id=other.id, name="n")
    s.add(node)
    await s.flush()
    deps = [_deployment(owner.id, n) for n in range(1, 5)]
    foreign = _deployment(other.id, 9)
    s.add_all([*deps, foreign])
    await s.flush()
    many, none, one, last = deps  # ``none`` has no lease: it is listed all the same
    s.add_all(
        [
            _lease(many, node, 1, m.PRIMARY, chain_lease_id="12", status=m.LEASE_OPEN, opened_block=3),
            _lease(many, node, 0, m.BACKUP, status=m.RESERVED),
            _lease(many, node, 0, m.PRIMARY, chain_lease_id=str(2**255), status=m.LEASE_OPEN),
            _lease(
                many, node, -99, m.RETIRED, retired_index=2, status=m.LEASE_CLOSED, refund=4, closed_block=9
            ),
            _lease(one, node, 0, m.PRIMARY, quote_expiry=123, stopped_at=5, stopped_block=6),
            _lease(last, node, 0, m.PRIMARY),
            _lease(foreign, node, 0, m.PRIMARY),
        ]
    )
    await s.flush()
    conn = await s.connection()

    pages = [await services.own_page(conn, owner.id, limit=2)]
    pages.append(await services.own_page(conn, owner.id, limit=2, before_id=pages[0][-1][0].id))
    pages.append(await services.own_page(conn, owner.id, limit=2, before_id=pages[1][-1][0].id))
    assert [[d.id for d, _ in page] for page in pages] == [[last.id, one.id], [none.id, many.id], []]
    got = pages[0] + pages[1]
    assert [d.id for d, _ in await services.own_page(conn, owner.id, limit=200)] == [d.id for d, _ in got]

    s.expunge_all()  # the ORM reads load from the database, as the list did before (not the identity map)
    orm_deps = {d.id: d for d in (await s.scalars(select(m.Deployment))).all()}
    orm_leases = await services.leases_of(s, list(orm_deps))
    assert [len(leases) for _, leases in got] == [1, 1, 0, 4]
    for row, leases in got:
        dep = orm_deps[row.id]
        assert row == tuple(getattr(dep, name) for name in m.DeploymentRow._fields)
        assert leases == [tuple(getattr(x, name) for name in m.LeaseRow._fields) for x in orm_leases[row.id]]
    roles = [(x.role, x.replica_index) for x in got[3][1]]
    assert roles == [(m.RETIRED, -99), (m.PRIMARY, 0), (m.PRIMARY, 1), (m.BACKUP, 0)]
    assert got[3][1][1].chain_lease_id == str(2**255) and got[0][1][0].deposit == 2**62
    assert await services.own_page(conn, 10**9, limit=5) == []
