"""EIP-4361 parser: the EIP's example messages as vectors, and malformed messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.identity.errors import SiweParseError
from engine.identity.siwe_message import parse_message

ADDR = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
BODY = f"""{ADDR}

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""
PREAMBLE = " wants you to sign in with your Ethereum account:\n"

EIP_EXAMPLES = {
    "implicit scheme": ("example.com" + PREAMBLE + BODY, None, "example.com"),
    "explicit port": ("example.com:3388" + PREAMBLE + BODY, None, "example.com:3388"),
    "explicit scheme": ("https://example.com" + PREAMBLE + BODY, "https", "example.com"),
}


@pytest.mark.parametrize("name", sorted(EIP_EXAMPLES))
def test_eip_examples(name: str) -> None:
    text, scheme, domain = EIP_EXAMPLES[name]
    msg = parse_message(text)
    assert msg.scheme == scheme
    assert msg.domain == domain
    assert msg.address == ADDR
    assert msg.statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos"
    assert msg.uri == "https://example.com/login"
    assert msg.version == "1"
    assert msg.chain_id == 1
    assert msg.nonce == "32891756"
    assert msg.issued_at_dt == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert msg.resources == (
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    )
    assert msg.to_text() == text


def full_message() -> str:
    return (
        "localhost:8080" + PREAMBLE + ADDR + "\n\n\n"  # no statement
        "URI: http://localhost:8080/app?x=1#top\nVersion: 1\nChain ID: 31337\nNonce: abcdef0123456789\n"
        "Issued At: 2024-01-01T00:00:00.123456789+02:00\nExpiration Time: 2024-01-01T01:00:00Z\n"
        "Not Before: 2023-12-31T23:00:00Z\nRequest ID: req-1:@x"
    )


def test_all_optional_fields_and_no_statement() -> None:
    msg = parse_message(full_message())
    assert msg.statement is None
    assert msg.chain_id == 31337
    assert msg.issued_at_dt == datetime(2023, 12, 31, 22, 0, 0, 123456, tzinfo=UTC)
    assert msg.expiration_dt == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert msg.not_before_dt == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert msg.request_id == "req-1:@x"
    assert msg.resources == ()
    assert msg.to_text() == full_message()


BASE = EIP_EXAMPLES["implicit scheme"][0]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 1),
        (BASE.replace(" wants you to sign in", " wants you to log in"), 1),
        (BASE.replace("example.com wants", "exa mple.com wants"), 1),
        (BASE.replace(ADDR, ADDR.lower()), 2),  # not EIP-55
        (BASE.replace(ADDR, ADDR[:-1]), 2),
        (BASE.replace("Version: 1", "Version: 2"), 7),
        (BASE.replace("Chain ID: 1", "Chain ID: one"), 8),
        (BASE.replace("Nonce: 32891756", "Nonce: 1234567"), 9),  # < 8 characters
        (BASE.replace("Nonce: 32891756", "Nonce: 12345678!"), 9),
        (BASE.replace("2021-09-30T16:25:24Z", "2021-13-30T16:25:24Z"), 10),
        (BASE.replace("2021-09-30T16:25:24Z", "yesterday"), 10),
        (BASE.replace("URI: https://example.com/login", "URI: not a uri"), 6),
        (BASE.replace("Terms of Service", "Terms of Service \u00e9"), 4),
        (BASE.replace("\n", "\r\n"), 1),
        (BASE + "\n", 14),  # trailing newline
        (BASE + "\nExtra: field", 14),
        (BASE.replace("URI:", "Uri:"), 6),
        (BASE.replace("Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"), 7),  # order is fixed
        (BASE.replace("\n\nURI", "\nURI"), 5),
        (BASE.replace("- https://example.com/my-web2-claim.json", "- not a uri"), 13),
    ],
)
def test_malformed(text: str, line: int) -> None:
    with pytest.raises(SiweParseError) as info:
        parse_message(text)
    assert info.value.line == line, info.value


def test_oversized_message_refused() -> None:
    with pytest.raises(SiweParseError):
        parse_message(BASE + "\n- https://example.com/" + "a" * 9000)
