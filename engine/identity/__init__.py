"""Identity and access: users (by Auth0 ``sub`` or wallet), wallet links, SIWE, node tokens."""
