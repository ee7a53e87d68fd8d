"""The fast signing path must produce exactly eth-account's bytes, and the key must never show."""

from __future__ import annotations

import secrets

from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.signer import LocalSigner, TxRequest

U256 = st.integers(min_value=0, max_value=2**256 - 1)


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < 2**255),
    chain_id=st.integers(min_value=1, max_value=2**64 - 1),
    nonce=st.integers(min_value=0, max_value=2**64 - 2),
    to=st.one_of(st.none(), st.binary(min_size=20, max_size=20)),
    data=st.binary(max_size=200),
    value=U256,
    gas=st.integers(min_value=21_000, max_value=30_000_000),
    max_fee=st.integers(min_value=0, max_value=2**128),
    tip=st.integers(min_value=0, max_value=2**128),
)
def test_fast_path_matches_eth_account(key, chain_id, nonce, to, data, value, gas, max_fee, tip):
    signer = LocalSigner(key)
    tx = TxRequest(
        chain_id=chain_id,
        nonce=nonce,
        to=None if to is None else "0x" + to.hex(),
        data=data,
        value=value,
        gas=gas,
        max_fee_per_gas=max(max_fee, tip),
        max_priority_fee_per_gas=tip,
    )
    fast, ref = signer.sign(tx), signer.sign_reference(tx)
    assert fast.raw == ref.raw
    assert fast.hash == ref.hash
    # and the sender recovers to our address
    assert Account.recover_transaction(fast.raw) == signer.address


def test_key_never_in_repr():
    key = "0x" + secrets.token_hex(32)
    signer = LocalSigner(key)
    assert key[2:] not in repr(signer) and key[2:] not in str(signer)
