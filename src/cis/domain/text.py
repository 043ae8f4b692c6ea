"""Making caller text safe for the places it lands: one-line headers, iCalendar TEXT, HTML."""

from __future__ import annotations

import html
import re

import nh3

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\u2028\u2029\ufeff]")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+")
_ENCODED_WORD_START = "=?"


#: Tags and attributes an invitation's HTML description may keep; everything else is removed.
ALLOWED_TAGS = frozenset({
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i", "li",
    "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "u", "ul",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan"}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})


def one_line(text: str) -> str:
    """Collapse line breaks and control characters to single spaces.

    Header fields and iCalendar parameters are one line; a CR or LF kept there would let a
    caller add a header or a property of their own.
    """
    return _ANY_CONTROL.sub(" ", text).strip()


def header_text(text: str) -> str:
    """One line, and no `=?` left to be read as an RFC 2047 encoded word by mail clients.

    A summary such as `=?utf-8?q?Hi=0D=0A?=` would otherwise be decoded by the recipient's
    client into text the organiser never wrote, line breaks included.
    """
    return one_line(text).replace(_ENCODED_WORD_START, "= ?")


def display_name(text: str) -> str:
    """A name for an address header (see `header_text`)."""
    return header_text(text)


def plain_text(text: str) -> str:
    """Normalise multi-line text: LF line breaks, no other control characters (tabs kept)."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\n", text))


def escape_html(text: str) -> str:
    """Plain text as HTML, line breaks kept visible."""
    return html.escape(plain_text(text)).replace("\n", "<br>\n")


def sanitise_html(fragment: str) -> str:
    """Keep the caller's formatting, drop anything that can run or load (scripts, styles, img).

    Sanitising keeps what the organiser wrote readable; links get `rel="noopener noreferrer"`.
    """
    return nh3.clean(
        plain_text(fragment),
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
    )
