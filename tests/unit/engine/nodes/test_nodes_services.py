"""Node validation, the addNode link word, event linking and tenant notifications (real DB)."""

from __future__ import annotations

import pytest
from eth_account import Account
from sqlalchemy import select

from engine.identity.services import ensure_user
from engine.nodes import linking
from engine.nodes import services as ns
from engine.nodes.errors import InvalidNode, WalletNotLinked
from engine.nodes.models import Notification

REGIONS = ["eu-west"]


def test_link_word_roundtrip() -> None:
    data = b"\x01\x02\x03\x04" + b"\x00" * 32 + ns.link_word(77)
    assert ns.parse_link(data) == 77
    assert ns.parse_link(data[:-32]) is None
    assert ns.parse_link(b"\x01\x02\x03\x04" + b"\x00" * 64) is None


@pytest.mark.parametrize(
    "change, field",
    [
        ({"cpu_millicores": -1}, "cpu_millicores"),
        ({"region": "mars"}, "region"),
        ({"gpu_count": 2}, "gpu.model"),
        ({"country": "de"}, "country"),
        ({"price_per_gpu": 2**64}, "price_per_gpu"),
    ],
)
def test_bad_specs(change, field) -> None:  # type: ignore[no-untyped-def]
    spec = ns.NodeSpec(**({"name": "n", "region": "eu-west"} | change))
    with pytest.raises(InvalidNode) as err:
        ns.validate_spec(spec, wallets=[], regions=REGIONS)
    assert err.value.field == field


def test_wallet_must_be_linked() -> None:
    with pytest.raises(WalletNotLinked):
        ns.validate_spec(ns.NodeSpec(name="n", wallet=Account.create().address), wallets=[], regions=REGIONS)


async def test_link_by_reference_then_fallback_and_notify(db_session) -> None:  # type: ignore[no-untyped-def]
    user = await ensure_user(db_session, "dev|nodes-unit")
    tenant = await ensure_user(db_session, "dev|nodes-tenant")
    wallet = Account.create().address
    spec = ns.validate_spec(
        ns.NodeSpec(name="a", wallet=wallet, region="eu-west"), wallets=[wallet], regions=REGIONS
    )
    a = await ns.create_node(db_session, user.id, spec)
    b = await ns.create_node(db_session, user.id, spec)
    # the reference names b although a is older
    linked = await linking.link_node(
        db_session,
        chain_node_id=9001,
        provider=wallet,
        payee=wallet,
        tx_hash="0x" + "11" * 32,
        ref_node_id=b.id,
    )
    assert linked is b and b.chain_node_id == 9001 and a.chain_node_id is None
    # a foreign provider's event does not take our node
    assert (
        await linking.link_node(
            db_session,
            chain_node_id=9002,
            provider=Account.create().address,
            payee=wallet,
            tx_hash="0x" + "12" * 32,
            ref_node_id=a.id,
        )
        is None
    )
    # no reference: the oldest unlinked node of the wallet
    assert (
        await linking.link_node(
            db_session,
            chain_node_id=9003,
            provider=wallet,
            payee=wallet,
            tx_hash="0x" + "13" * 32,
            ref_node_id=None,
        )
        is a
    )

    async def tenants(session, node_id):  # type: ignore[no-untyped-def]
        return [tenant.id, tenant.id]

    for _ in range(2):  # replay: one window, one notification
        w = await linking.record_window(
            db_session,
            chain_node_id=9003,
            start=100,
            end=200,
            tx_hash="0x" + "14" * 32,
            log_index=0,
            block_number=5,
            tenants_of=tenants,
        )
    assert w is not None and w.node_id == a.id
    notes = (await db_session.scalars(select(Notification).where(Notification.user_id == tenant.id))).all()
    assert [(n.kind, n.payload["node_id"]) for n in notes] == [("maintenance_scheduled", a.id)]
