"""Schemas of the identity routes (:mod:`api.routes.identity`)."""

from __future__ import annotations

ADDRESS = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
SESSION_SCHEMA = {
    "type": "object",
    "required": ["user_id", "sub", "roles", "wallets", "source"],
    "properties": {
        "user_id": {"type": "integer"},
        "sub": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "wallets": {"type": "array", "items": ADDRESS},
        "source": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
SETTINGS_SCHEMA = {
    "type": "object",
    "required": ["settings"],
    "properties": {"settings": {"type": "object"}},
    "additionalProperties": False,
}
NONCE_SCHEMA = {
    "type": "object",
    "required": ["nonce", "expires_at", "domain", "uri", "chain_id"],
    "properties": {
        "nonce": {"type": "string"},
        "expires_at": {"type": "integer"},
        "domain": {"type": "string"},
        "uri": {"type": "string"},
        "chain_id": {"type": "integer"},
    },
    "additionalProperties": False,
}
VERIFY_REQUEST = {
    "type": "object",
    "required": ["message", "signature"],
    "properties": {
        "message": {"type": "string", "maxLength": 8192},
        "signature": {"type": "string", "pattern": "^0x[0-9a-fA-F]*$", "maxLength": 4096},
    },
    "additionalProperties": False,
}
VERIFY_RESPONSE = {
    "type": "object",
    "required": ["user_id", "address", "linked"],
    "properties": {
        "user_id": {"type": "integer"},
        "address": ADDRESS,
        "linked": {"type": "boolean"},
        "session_token": {"type": "string"},
        "expires_in": {"type": "integer"},
    },
    "additionalProperties": False,
}
NODE_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "created_at"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "created_at": {"type": "string"}},
    "additionalProperties": False,
}
NODE_CREATE = {
    "type": "object",
    "required": ["name"],
    # at least one non-blank character; the name is stored stripped
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S"}},
    "additionalProperties": False,
}
TOKEN_SCHEMA = {
    "type": "object",
    "required": ["id", "node_id", "token"],
    "properties": {"id": {"type": "integer"}, "node_id": {"type": "integer"}, "token": {"type": "string"}},
    "additionalProperties": False,
}
REVOKED_SCHEMA = {
    "type": "object",
    "required": ["id", "node_id", "revoked"],
    "properties": {"id": {"type": "integer"}, "node_id": {"type": "integer"}, "revoked": {"type": "boolean"}},
    "additionalProperties": False,
}
JWKS_SCHEMA = {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}}}
