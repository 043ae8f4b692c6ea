"""Who sent a reply: the one mailbox its `From` header names, read strictly or not at all.

A reply is trusted for the attendee its sender is, and the sender's authentication (DMARC)
vouches for one domain of `From`. A header that could be read as two mailboxes lets a reader
pick another one than the check did: `email.utils.parseaddr` takes `ann@example.org` out of
`ann@example.org <eve@evil.example>`, `ann@example.org, eve@evil.example` and
`<ann@example.org>eve@evil.example`, and the library's own header parser decodes
`=?utf-8?q?ann?=@example.org` into Ann's address. So only the shapes mail clients write are
read: a bare `addr-spec`, or an optional display name and `<addr-spec>`, the address a
dot-atom on each side of one `@`, with no comment, group, route, quoted local part, domain
literal or encoded word, and a display name that is no address itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from cis.domain.rsvp import quoted
from cis.errors import InvalidReplyError

__all__ = ["MAX_FROM_LENGTH", "read_sender"]

MAX_FROM_LENGTH = 998
"""The longest `From` read, unfolded: RFC 5322's line limit; a mailbox needs far less."""

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\ud7ff\ue000-\U0010ffff]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ADDRESS = rf"(?P<address>{_DOT_ATOM}@{_DOT_ATOM})"
# A display name: words and quoted strings, without the characters that delimit an address,
# a list, a group, a comment or a domain literal. Each alternative starts with a different
# character, so a failed match gives up in one pass.
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"'
_PHRASE = rf'(?P<name>(?:[^<>@,;:()\[\]"\\\x00-\x08\x0a-\x1f\x7f]|{_QUOTED})*)'
_BARE = re.compile(_ADDRESS)
_NAMED = re.compile(rf"{_PHRASE}<{_ADDRESS}>")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def read_sender(values: Sequence[str]) -> str:
    """The address of the one mailbox the message's `From` headers name, as written.

    Args:
        values: every `From` header of the message, raw (folded, undecoded).

    Raises:
        InvalidReplyError: no `From`, more than one, or one that is not exactly one
            well-formed mailbox; the reason names what is wrong.

    """
    if not values:
        raise InvalidReplyError("the message has no From header")
    if len(values) > 1:
        raise InvalidReplyError(f"the message has {len(values)} From headers; a reply has one")
    value = _as_utf8(_FOLD.sub("", values[0])).strip(" \t")
    if len(value) > MAX_FROM_LENGTH:
        raise InvalidReplyError(f"From is {len(value)} characters; a mailbox needs at most "
                                f"{MAX_FROM_LENGTH}")
    match = _BARE.fullmatch(value) or _NAMED.fullmatch(value)
    if match is None:
        raise InvalidReplyError(f"From {quoted(value)} is not exactly one well-formed mailbox")
    address = match.group("address")
    if "=?" in address:
        raise InvalidReplyError(f"From {quoted(value)} has an encoded word in its address, "
                                "which some readers decode into another address")
    name = match.groupdict().get("name") or ""
    if "@" in unicodedata.normalize("NFKC", _decoded(name, value)):
        raise InvalidReplyError(f"From {quoted(value)} has a display name that is itself an "
                                "address")
    return address


def _as_utf8(raw: str) -> str:
    """A raw header's 8-bit bytes (kept by the parser as surrogates) read as UTF-8 (RFC 6532).

    Bytes that are no UTF-8 become U+FFFD: in a display name they hide nothing, and in an
    address they make it one no attendee has.
    """
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decoded(name: str, value: str) -> str:
    """The display name as a reader shows it, its RFC 2047 encoded words decoded."""
    try:
        return str(make_header(decode_header(name)))
    except (HeaderParseError, LookupError, UnicodeError):
        raise InvalidReplyError(f"From {quoted(value)} has a display name that does not "
                                "decode") from None
