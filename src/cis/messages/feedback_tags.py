"""The SES message tags that carry an invitation's event uid into the mail system's reports.

SES publishes a message's tags with every event about it (event publishing through a
configuration set), so a bounce names its event without a lookup. A tag value may only hold
A-Z a-z 0-9 `_` `-` and at most 256 characters, so the uid is written with every other byte
as `_` and two hex digits (`team@example.org` becomes `team_40example_2Eorg`), over as many
tags as it needs: `cis-event`, then `cis-event-2`, `cis-event-3`, `cis-event-4`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from cis.errors import InvalidFeedbackError

__all__ = ["EVENT_TAG", "MAX_EVENT_TAGS", "MAX_TAG_VALUE", "event_tags", "event_uid_from_tags"]

EVENT_TAG = "cis-event"
MAX_TAG_VALUE = 256
"""SES's limit on one tag value."""
MAX_EVENT_TAGS = 4
"""Tags one uid may take: room for any uid a queue message may carry (255 characters, every
one escaped: 765), and a bound on what a report may make us read."""

_KEPT = re.compile(rb"[A-Za-z0-9-]")
_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TOKEN = re.compile(r"_[0-9A-F]{2}|[A-Za-z0-9-]")


def event_tags(event_uid: str) -> list[tuple[str, str]]:
    """The tags (name, value) that carry `event_uid`; none when it would need too many."""
    tokens = [chr(byte) if _KEPT.fullmatch(bytes([byte])) else f"_{byte:02X}"
              for byte in event_uid.encode("utf-8")]
    values: list[str] = []
    current = ""
    for token in tokens:
        if len(current) + len(token) > MAX_TAG_VALUE:
            values.append(current)
            current = ""
        current += token
    if current:
        values.append(current)
    if len(values) > MAX_EVENT_TAGS:
        return []
    return [(_tag_name(position), value) for position, value in enumerate(values)]


def event_uid_from_tags(tags: Mapping[str, object]) -> str | None:
    """The event uid SES's `mail.tags` carry, or None when they carry none.

    Raises:
        InvalidFeedbackError: the tags are there but are not what `event_tags` writes (a
            value not in the alphabet, a part missing or repeated, bytes that are not UTF-8).

    """
    parts: list[str] = []
    for position in range(MAX_EVENT_TAGS):
        name = _tag_name(position)
        if name not in tags:
            break
        values = tags[name]
        if (not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str)
                or not _VALUE.fullmatch(values[0])):
            raise InvalidFeedbackError(f"mail.tags.{name}: not one value of up to "
                                       f"{MAX_TAG_VALUE} of A-Z a-z 0-9 _ -")
        parts.append(values[0])
    later = [_tag_name(n) for n in range(len(parts), MAX_EVENT_TAGS + 1) if _tag_name(n) in tags]
    if later:
        raise InvalidFeedbackError(f"mail.tags.{later[0]}: a part of the event uid without "
                                   f"the one before it, or one too many")
    if not parts:
        return None
    return _decoded("".join(parts))


def _tag_name(position: int) -> str:
    return EVENT_TAG if position == 0 else f"{EVENT_TAG}-{position + 1}"


def _decoded(text: str) -> str:
    tokens = _TOKEN.findall(text)
    if "".join(tokens) != text:
        raise InvalidFeedbackError(f"mail.tags.{EVENT_TAG}: an escape is not _ and two "
                                   "upper-case hex digits")
    raw = bytes(int(token[1:], 16) if token.startswith("_") else ord(token) for token in tokens)
    try:
        uid = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidFeedbackError(f"mail.tags.{EVENT_TAG}: not UTF-8") from None
    if any(ord(char) < 32 or ord(char) == 127 for char in uid):
        raise InvalidFeedbackError(f"mail.tags.{EVENT_TAG}: a control character in the uid")
    if "".join(value for _, value in event_tags(uid)) != text:
        # `_41` for `A`, `_2e` for `.`: another spelling of a uid is not one cis wrote.
        raise InvalidFeedbackError(f"mail.tags.{EVENT_TAG}: not written the way cis writes it")
    return uid
