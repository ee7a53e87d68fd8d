"""About the service itself: what wallets need to reach our contracts, operational counters."""
