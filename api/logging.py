"""Structured logs: one JSON object per line through the stdlib :mod:`logging`.

:func:`configure_logging` installs :class:`JsonFormatter` (or a plain text one) on the root logger.
Extra fields passed with ``logger.info("...", extra={...})`` become keys of the JSON object. Any key that
looks like a secret (``key``, ``secret``, ``token``, ``password``, ``authorization`` ...) is replaced by
``"[redacted]"`` before it is written, so a careless ``extra=`` cannot leak a credential.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(secret|passw|token|authorization|cookie|private|api_?key|signer_key|master_key)", re.IGNORECASE
)
# Attributes every LogRecord has; everything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


_secret_keys: dict[str, bool] = {}


def _is_secret_key(key: str) -> bool:
    """Whether ``key`` looks like a secret's name (memoised: log lines reuse a handful of keys)."""
    known = _secret_keys.get(key)
    if known is None:
        known = bool(_SECRET_KEY.search(key))
        if len(_secret_keys) < 4096:
            _secret_keys[key] = known
    return known


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` with secret-looking keys (recursively, in mappings) replaced by ``[redacted]``."""
    if key and value is not None and _is_secret_key(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: ts, level, logger, msg, extra fields, exc (if any)."""

    _second = -1
    _second_text = ""

    def _timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds, as ``datetime.isoformat(timespec="milliseconds")`` writes it;
        the date and time of day are formatted once per second."""
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{min(int((created - second) * 1000), 999):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                out[key] = redact(value, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


def log_fast(logger: logging.Logger, level: int, msg: str, extra: dict[str, Any]) -> None:
    """``logger.log(level, msg, extra=extra)`` without the caller lookup (a stack walk per call) the
    stdlib does for ``%(pathname)s``/``%(lineno)d``, which our JSON lines never print. For the per-request
    access line."""
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, "", 0, msg, (), None, extra=extra))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one stderr handler on the root logger (idempotent: replaces handlers set before)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's own access log duplicates ours (api.middlewares logs one line per request).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # start-up chatter of libraries (one line per Alembic plugin, provider connects) is not operator news
    for noisy in ("alembic", "web3.providers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # APScheduler logs two INFO lines per job run ("Running job", "executed successfully"); our jobs log
    # their own outcome. Its lines are shown at DEBUG only.
    chatty = logging.getLogger("apscheduler")
    chatty.setLevel(logging.NOTSET if root.level <= logging.DEBUG else max(logging.WARNING, root.level))
