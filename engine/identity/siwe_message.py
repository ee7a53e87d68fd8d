"""EIP-4361 (Sign-In with Ethereum) messages: a strict parser to the EIP's ABNF, and the canonical text.

Written here rather than taken from PyPI (the ``siwe`` packages cap web3 < 8). The grammar::

    [ scheme "://" ] domain " wants you to sign in with your Ethereum account:" LF
    address LF
    LF
    [ statement LF ]
    LF
    "URI: " uri LF
    "Version: " version LF
    "Chain ID: " chain-id LF
    "Nonce: " nonce LF
    "Issued At: " issued-at
    [ LF "Expiration Time: " expiration-time ]
    [ LF "Not Before: " not-before ]
    [ LF "Request ID: " request-id ]
    [ LF "Resources:" *( LF "- " URI ) ]

Terminals follow RFC 3986 (scheme, authority, URI, pchar, reserved/unreserved for the statement), RFC 3339
(date-time) and EIP-55 (address: we require a valid checksum, as wallets produce). Field order and
whitespace are exact; no trailing newline; CR is refused. The URI check is RFC 3986's character set and
``scheme ":" ...`` shape, not a full hier-part parse. Lengths are capped (:data:`MAX_MESSAGE_CHARS`) to
bound the work an attacker can cause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from eth_utils.address import is_checksum_address

from engine.identity.errors import SiweParseError

MAX_MESSAGE_CHARS = 8192
HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"

_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_GEN_DELIMS = r":/?#\[\]@"
_PCT = r"%[0-9A-Fa-f]{2}"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})+"
_IP_LITERAL = r"\[[0-9A-Fa-f:.vV]+\]"
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?"
_URI_CHARS = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:/?@\[\]]|{_PCT})*"
_URI = rf"{_SCHEME}:{_URI_CHARS}(?:#{_URI_CHARS})?"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_STATEMENT = rf"[{_UNRESERVED}{_SUB_DELIMS}{_GEN_DELIMS} ]*"

RE_SCHEME = re.compile(_SCHEME)
RE_AUTHORITY = re.compile(_AUTHORITY)
RE_URI = re.compile(_URI)
RE_STATEMENT = re.compile(_STATEMENT)
RE_REQUEST_ID = re.compile(rf"{_PCHAR}*")
RE_ADDRESS = re.compile(r"0x[0-9A-Fa-f]{40}")
RE_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
RE_CHAIN_ID = re.compile(r"[0-9]{1,20}")
RE_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: str
    scheme: str | None = None
    statement: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    @property
    def issued_at_dt(self) -> datetime:
        return parse_datetime(self.issued_at)

    @property
    def expiration_dt(self) -> datetime | None:
        return parse_datetime(self.expiration_time) if self.expiration_time else None

    @property
    def not_before_dt(self) -> datetime | None:
        return parse_datetime(self.not_before) if self.not_before else None

    def to_text(self) -> str:
        """The canonical message text (what the wallet signs)."""
        head = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [head + HEADER_SUFFIX, self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def parse_datetime(text: str) -> datetime:
    """RFC 3339 ``date-time`` to an aware UTC datetime (fractions beyond microseconds truncated)."""
    m = RE_DATETIME.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    frac = (m.group(7) or "")[:7]
    offset = m.group(8)
    offset = "+00:00" if offset in ("Z", "z") else offset
    iso = f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6)}{frac}{offset}"
    return datetime.fromisoformat(iso).astimezone(UTC)


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def peek(self) -> str | None:
        return self.lines[self.i] if self.i < len(self.lines) else None

    def take(self, what: str) -> str:
        line = self.peek()
        if line is None:
            raise SiweParseError(self.i + 1, f"message ends before {what}")
        self.i += 1
        return line

    def field(self, label: str, pattern: re.Pattern[str], *, optional: bool = False) -> str | None:
        line = self.peek()
        prefix = f"{label}: "
        if line is None or not line.startswith(prefix):
            if optional:
                return None
            raise SiweParseError(self.i + 1, f"expected '{prefix}'")
        value = line[len(prefix) :]
        if not pattern.fullmatch(value):
            raise SiweParseError(self.i + 1, f"invalid {label}: {value!r}")
        self.i += 1
        return value


def _datetime_field(cur: _Lines, label: str, *, optional: bool) -> str | None:
    line_no = cur.i + 1
    value = cur.field(label, RE_DATETIME, optional=optional)
    if value is not None:
        try:
            parse_datetime(value)
        except ValueError as exc:  # e.g. month 13: right shape, impossible date
            raise SiweParseError(line_no, f"invalid {label}: {value!r}") from exc
    return value


def parse_message(text: str) -> SiweMessage:
    """Parse ``text`` strictly; :class:`SiweParseError` (with the 1-based line) if it does not conform."""
    if not isinstance(text, str) or not text:
        raise SiweParseError(1, "empty message")
    if len(text) > MAX_MESSAGE_CHARS:
        raise SiweParseError(1, f"message longer than {MAX_MESSAGE_CHARS} characters")
    if "\r" in text:
        raise SiweParseError(text[: text.index("\r")].count("\n") + 1, "CR is not allowed (LF only)")
    cur = _Lines(text.split("\n"))

    header = cur.take("the header")
    if not header.endswith(HEADER_SUFFIX):
        raise SiweParseError(1, "header must end with the SIWE preamble")
    origin = header[: -len(HEADER_SUFFIX)]
    scheme: str | None = None
    if "://" in origin:
        scheme, origin = origin.split("://", 1)
        if not RE_SCHEME.fullmatch(scheme):
            raise SiweParseError(1, f"invalid scheme: {scheme!r}")
    if not RE_AUTHORITY.fullmatch(origin):
        raise SiweParseError(1, f"invalid domain: {origin!r}")

    address = cur.take("the address")
    if not RE_ADDRESS.fullmatch(address):
        raise SiweParseError(2, "address must be 0x and 40 hex digits")
    if not is_checksum_address(address):
        raise SiweParseError(2, "address is not EIP-55 checksummed")
    if cur.take("the blank line") != "":
        raise SiweParseError(3, "expected a blank line after the address")

    statement: str | None = None
    line = cur.take("the statement or blank line")
    if line != "":
        if not RE_STATEMENT.fullmatch(line):
            raise SiweParseError(cur.i, "statement has characters outside RFC 3986 reserved/unreserved/space")
        statement = line
        if cur.take("the blank line") != "":
            raise SiweParseError(cur.i, "expected a blank line after the statement")

    uri = cur.field("URI", RE_URI)
    version = cur.field("Version", re.compile("1"))
    chain_id = cur.field("Chain ID", RE_CHAIN_ID)
    nonce = cur.field("Nonce", RE_NONCE)
    issued_at = _datetime_field(cur, "Issued At", optional=False)
    expiration = _datetime_field(cur, "Expiration Time", optional=True)
    not_before = _datetime_field(cur, "Not Before", optional=True)
    request_id = cur.field("Request ID", RE_REQUEST_ID, optional=True)
    resources: list[str] = []
    if cur.peek() == "Resources:":
        cur.i += 1
        while (line_ := cur.peek()) is not None and line_.startswith("- "):
            if not RE_URI.fullmatch(line_[2:]):
                raise SiweParseError(cur.i + 1, f"invalid resource URI: {line_[2:]!r}")
            resources.append(line_[2:])
            cur.i += 1
    if cur.peek() is not None:
        raise SiweParseError(cur.i + 1, f"unexpected line: {cur.peek()!r}")

    assert uri is not None and version is not None and chain_id is not None
    assert nonce is not None and issued_at is not None
    return SiweMessage(
        domain=origin,
        address=address,
        uri=uri,
        version=version,
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        scheme=scheme,
        statement=statement,
        expiration_time=expiration,
        not_before=not_before,
        request_id=request_id,
        resources=tuple(resources),
    )
