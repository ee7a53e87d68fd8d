"""Provider onboarding: requests to the operator, on-chain approval through the outbox, status mirror."""
