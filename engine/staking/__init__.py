"""Staking discount tiers (issue 13): the engine side of ``StakingTiers``.

Stakes, locks, tiers and the discount live on chain; this room reads them (``GET /api/staking/...``), hands a
wallet user the unsigned stake / unstake / withdraw transactions, schedules the operator's tier sets through
the outbox, and reports every payer's total open lease rate to the contract (``staking.spend_rates`` job),
which the discount formula checks the stake against. No tables: the chain is the source of truth, the
outbox holds the writes.
"""
