"""Authentication: Auth0 RS256 tokens (JWKS), the dev issuer, wallet session tokens, node tokens."""
