"""Managed wallets: server-generated keys encrypted at rest under a master key."""
