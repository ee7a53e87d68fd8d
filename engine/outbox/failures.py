"""Turn a node's failure answer (a revert, an RPC error) into the text stored in ``outbox_tx.last_error``.

Decoding (our contracts' custom errors, ``Error(string)``, ``Panic``) is ``chain.reverts.decode_revert``;
unknown selectors keep the raw data.
"""

from __future__ import annotations

from typing import Any

from chain.reverts import decode_revert


def is_revert(error: dict[str, Any] | None) -> bool:
    """A JSON-RPC error object that says "execution reverted" (code 3, or the message)."""
    if not error:
        return False
    return error.get("code") == 3 or "revert" in str(error.get("message", "")).lower()


def describe_revert(data: str | None, message: str, to: str | None = None) -> str:
    """``reverted: <ErrorName>(args)`` or the raw data — never raises."""
    if not data or data == "0x":
        return f"reverted: {message} (no revert data)"
    try:
        exc = decode_revert(data)
    except Exception:  # decode_revert promises not to raise; a bad artifact dir must not stop the sender
        return f"reverted: data={data} ({message})"
    if exc.error == "UnknownRevert":
        return f"reverted: data={data} ({message})"
    return f"reverted: {exc.error}({', '.join(f'{k}={v!r}' for k, v in exc.error_args.items())}) data={data}"
