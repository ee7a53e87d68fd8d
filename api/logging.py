"""Structured logs: one JSON object per line through the stdlib :mod:`logging`.

:func:`configure_logging` installs :class:`JsonFormatter` (or a plain text one) on the root logger.
Extra fields passed with ``logger.info("...", extra={...})`` become keys of the JSON object. Any key that
looks like a secret (``key``, ``secret``, ``token``, ``password``, ``authorization`` ...) is replaced by
``"[redacted]"`` before it is written, so a careless ``extra=`` cannot leak a credential.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(secret|passw|token|authorization|cookie|private|api_?key|signer_key|master_key)", re.IGNORECASE
)
# Attributes every LogRecord has; everything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


_secret_keys: dict[str, bool] = {}
# values ``redact`` returns unchanged unless their key looks secret (no recursion needed)
_SCALARS = frozenset({str, int, float, bool, type(None)})
# one encoder for every line (``json.dumps`` with options builds a new one per call)
_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


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
                if type(value) in _SCALARS:  # redact() without its recursion, for the common case
                    out[key] = REDACTED if value is not None and _is_secret_key(key) else value
                else:
                    out[key] = redact(value, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _encode(out)


class _RecordTemplates:
    """What :func:`log_fast` copies into a new record: every attribute ``makeRecord`` would compute that
    does not change between calls of one logger, level and message from one thread of one process (file,
    thread and process names ...). Built by ``makeRecord`` itself on first use, forgotten in a forked
    child; only the times are filled per call."""

    MAX = 256

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, int, str, int], dict[str, Any]] = {}
        os.register_at_fork(after_in_child=self.by_key.clear)

    def get(self, logger: logging.Logger, level: int, msg: str) -> dict[str, Any]:
        key = (logger.name, level, msg, threading.get_ident())
        template = self.by_key.get(key)
        if template is None:
            template = dict(vars(logger.makeRecord(logger.name, level, "", 0, msg, (), None)))
            # the process start in ms, as ``relativeCreated`` counts from it (whatever the Python version)
            template["_start_ms"] = template["created"] * 1000 - template["relativeCreated"]
            if len(self.by_key) < self.MAX:
                self.by_key[key] = template
        return template


_templates = _RecordTemplates()
_new_record = logging.LogRecord.__new__


def log_fast(logger: logging.Logger, level: int, msg: str, extra: dict[str, Any]) -> None:
    """``logger.log(level, msg, extra=extra)`` without what the per-request access line does not need: the
    caller lookup (a stack walk per call) for ``%(pathname)s``/``%(lineno)d``, which our JSON lines never
    print, and the thread/process/file-name lookups of ``LogRecord.__init__`` (copied from a template per
    logger, level and message; see :class:`_RecordTemplates`). Same record attributes as ``makeRecord``;
    a custom record factory, if one is installed, is used as is."""
    if not logger.isEnabledFor(level):
        return
    if logging.getLogRecordFactory() is not logging.LogRecord:
        logger.handle(logger.makeRecord(logger.name, level, "", 0, msg, (), None, extra=extra))
        return
    template = _templates.get(logger, level, msg)
    if not template.keys().isdisjoint(extra) or "message" in extra or "asctime" in extra:
        clash = sorted((template.keys() | {"message", "asctime"}) & extra.keys())
        raise KeyError(f"attempt to overwrite LogRecord attributes {clash}")
    record = _new_record(logging.LogRecord)
    attrs = record.__dict__
    attrs.update(template)
    del attrs["_start_ms"]
    now = time.time()
    attrs["created"] = now
    attrs["msecs"] = int((now - int(now)) * 1000) + 0.0
    attrs["relativeCreated"] = now * 1000 - template["_start_ms"]
    attrs.update(extra)
    logger.handle(record)


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
