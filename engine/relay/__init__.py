"""The managed payers' relay: escrow requests signed with the managed key (EIP-712 + EIP-2612 permit,
``signing``) one at a time per payer and handed to the outbox (``relay``). Errors: ``errors``."""
