"""Making caller text safe for the places it lands: one-line headers, iCalendar TEXT, HTML."""

from __future__ import annotations

import html
import re

import nh3

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\u2028\u2029\ufeff]")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n|\x85|\u2028|\u2029")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+")
_ENCODED_WORD_START = "=?"

#: The most a display name may hold, escapes counted, between the quotes of its quoted form:
#: a space, the quotes and this fill one 78-character header line (RFC 5322 section 2.1.1).
DISPLAY_NAME_WIDTH = 75
_QUOTED_PAIRS = frozenset('"\\')
_CUT_MARK = "..."


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


def display_name(text: str, *, width: int = DISPLAY_NAME_WIDTH) -> str:
    """A name for an address header (see `header_text`) that its header never folds inside.

    The email package folds a quoted display name that does not fit on a line by writing its
    words without the quotes, and a comma or `@` in the name then reads as another address;
    a word too long for a line is left as one overlong line. So a name longer than `width`
    (escapes counted) is cut, at a space where one falls in its second half, and ends in
    "...". Mail clients show no more than that of a name; the calendar's CN keeps all of it.
    """
    name = header_text(text)
    if not name or quoted_width(name) <= width:
        return name
    kept, room = 0, width - len(_CUT_MARK)
    while (room := room - quoted_width(name[kept])) >= 0:
        kept += 1
    cut = name[:kept]
    space = cut.rfind(" ")
    if space > len(cut) // 2:
        cut = cut[:space]
    cut = cut.rstrip()
    return cut + _CUT_MARK if cut else ""


def quoted_width(name: str) -> int:
    """How many characters `name` takes between the quotes of an RFC 5322 quoted-string."""
    return len(name) + sum(char in _QUOTED_PAIRS for char in name)


def common_name(text: str) -> str:
    """A name for an iCalendar CN parameter, which every calendar reader reads alike.

    A parameter value cannot hold a double quote (RFC 5545 section 3.1), and the RFC 6868
    caret escapes icalendar writes instead (`^'`, and `^^` for a caret) are read as they stand
    by vobject and by many mail clients. So `"` becomes `'` and `^` becomes U+02C6 (a
    modifier circumflex, which looks the same): a deliberate reduction, as one line.
    """
    return one_line(text).replace('"', "'").replace("^", "\u02c6")


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
