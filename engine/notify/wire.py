"""The NOTIFY payload format: ``origin \\n topic \\n payload``, checked against PostgreSQL's size limit.

``origin`` identifies the publishing process so it can ignore its own echo (it already delivered locally).
Both hubs apply the same checks, so a topic that works with SQLite also works with PostgreSQL.
"""

from __future__ import annotations

from engine.notify.errors import InvalidTopic, PayloadTooLarge

# PostgreSQL: "the payload string must be shorter than 8000 bytes" (default configuration).
MAX_NOTIFY_BYTES = 7999
MAX_TOPIC_CHARS = 200
ORIGIN_CHARS = 16


def check_topic(topic: str) -> None:
    if not topic:
        raise InvalidTopic(topic, "empty")
    if len(topic) > MAX_TOPIC_CHARS:
        raise InvalidTopic(topic, f"longer than {MAX_TOPIC_CHARS} characters")
    if "\n" in topic:
        raise InvalidTopic(topic, "contains a newline")


def encode(origin: str, topic: str, payload: str) -> str:
    check_topic(topic)
    text = f"{origin}\n{topic}\n{payload}"
    size = len(text.encode())
    if size > MAX_NOTIFY_BYTES:
        raise PayloadTooLarge(topic, size, MAX_NOTIFY_BYTES)
    return text


def decode(text: str) -> tuple[str, str, str] | None:
    """``(origin, topic, payload)``, or None for a message that is not ours (ignored, never fatal)."""
    parts = text.split("\n", 2)
    if len(parts) != 3 or not parts[1]:
        return None
    return parts[0], parts[1], parts[2]
