"""Payments domain: the fiat ledger, credit grants, reversals (refund/dispute) and account flags.

No Stripe SDK here (billing/ talks to Stripe); this room only stores what Stripe told us and turns settled
fiat into outbox mints, exactly once per business key.
"""
