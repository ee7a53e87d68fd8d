"""Staking discount tiers (issue 13): the engine side of ``StakingTiers``.

Stakes, locks, tiers and the discount live on chain; this room reads them (``GET /api/staking/...``), hands a
wallet user the unsigned stake / unstake / withdraw transactions (a managed wallet's requests are signed by
its key and relayed through the outbox: ``stakeBySig`` etc., :mod:`engine.staking.relay`), schedules the
operator's tier sets through the outbox, and reports every payer's total open lease rate to the contract
(``staking.spend_rates`` job), which the discount formula checks the stake against. The chain is the source
of truth; the outbox holds the writes; ``staking_positions`` / ``staking_events`` index the stake events for
history (:mod:`engine.staking.events`).
"""
