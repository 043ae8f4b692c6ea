"""Over-long texts cut to their limits at a clean boundary, with a mark the reader sees.

An invitation is worth more than the end of a long description: a summary, location,
description or HTML description longer than the limit cis stores and sends is cut, never a
reason to leave the attendee uninvited. The cut falls where a reader expects a text to break
(a paragraph, a line, a word; in HTML between tags, never inside one or inside an entity),
never inside a character a reader sees as one (a letter and its accents, an emoji sequence,
a flag), and the text ends with a mark that says it was cut.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from cis.domain.limits import (
    MAX_DESCRIPTION_HTML_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_LOCATION_LENGTH,
    MAX_SUMMARY_LENGTH,
)
from cis.domain.model import Event

__all__ = ["HTML_MARK", "LINE_MARK", "TEXT_MARK", "shorten_event", "shorten_html",
           "shorten_line", "shorten_text"]

LINE_MARK = " […]"
"""Ends a one-line text (summary, location) that was cut."""
TEXT_MARK = "\n\n[…]"
"""Ends a plain-text description that was cut, on a line of its own."""
HTML_MARK = "<p>[…]</p>"
"""Ends an HTML description that was cut, as a paragraph of its own."""

_ZERO_WIDTH_JOINER = "\u200d"
_OPEN_TAG = re.compile(r"<[^>]*\Z")
_OPEN_COMMENT = re.compile(r"<!--(?:(?!-->).)*\Z", re.DOTALL)
_OPEN_ENTITY = re.compile(r"&[#A-Za-z0-9]{0,32}\Z")


def shorten_event(event: Event) -> Event:
    """The event with each over-long text cut to its limit; `shortened` names those cut."""
    summary = shorten_line(event.summary, MAX_SUMMARY_LENGTH)
    location = (None if event.location is None
                else shorten_line(event.location, MAX_LOCATION_LENGTH))
    description = (None if event.description is None
                   else shorten_text(event.description, MAX_DESCRIPTION_LENGTH))
    description_html = (None if event.description_html is None
                        else shorten_html(event.description_html, MAX_DESCRIPTION_HTML_LENGTH))
    cut = tuple(name for name, before, after in (
        ("summary", event.summary, summary),
        ("description", event.description, description),
        ("description_html", event.description_html, description_html),
        ("location", event.location, location),
    ) if before != after)
    if not cut:
        return event
    return replace(event, summary=summary, description=description,
                   description_html=description_html, location=location,
                   shortened=(*event.shortened, *cut))


def shorten_line(text: str, limit: int) -> str:
    """A one-line text of at most `limit` characters: cut at a space, ending in `LINE_MARK`."""
    if len(text) <= limit:
        return text
    return _cut(text, limit - len(LINE_MARK), ("\t", " ")).rstrip() + LINE_MARK


def shorten_text(text: str, limit: int) -> str:
    """Plain text of at most `limit` characters: cut at a paragraph, a line or a word."""
    if len(text) <= limit:
        return text
    return _cut(text, limit - len(TEXT_MARK), ("\n\n", "\n", " ", "\t")).rstrip() + TEXT_MARK


def shorten_html(fragment: str, limit: int) -> str:
    """HTML of at most `limit` characters, cut between tags or words, never inside either.

    Tags left open are closed when the description is sanitised for sending (nh3 closes
    them), so the mark shows as a paragraph after what is kept.
    """
    if len(fragment) <= limit:
        return fragment
    kept = _finished(fragment[: limit - len(HTML_MARK)])
    cut = _cut(fragment, len(kept), ("</p>", "<br>", "</li>", "</div>", ">", " ", "\n"),
               keep_separator=True)
    return _finished(cut).rstrip() + HTML_MARK


def _finished(html: str) -> str:
    """`html` without a comment, tag or character reference left unfinished at its end."""
    while True:
        before = html
        for unfinished in (_OPEN_COMMENT, _OPEN_TAG, _OPEN_ENTITY):
            found = unfinished.search(html)
            if found:
                html = html[:found.start()]
        if html == before:
            return html


def _cut(text: str, room: int, separators: tuple[str, ...], *,
         keep_separator: bool = False) -> str:
    """The longest start of `text` of at most `room` characters ending at a clean boundary.

    The first of `separators` found in the second half of the room wins (keeping it when
    `keep_separator`); without one, the cut falls at the room's end, moved back to the start
    of the character a reader sees there.
    """
    head = text[:room]
    for separator in separators:
        where = head.rfind(separator)
        if where > room // 2:
            return head[: where + len(separator)] if keep_separator else head[:where]
    return text[:_grapheme_start(text, room)]


def _grapheme_start(text: str, index: int) -> int:
    """`index`, moved back until it starts a character as a reader sees one.

    Not before a combining mark, a variation selector, an emoji modifier or tag character,
    or after a zero-width joiner; not between the two halves of a flag (regional indicators
    pair from the start of their run) or of CR LF.
    """
    while 0 < index < len(text) and (
        _continues(text[index]) or text[index - 1] == _ZERO_WIDTH_JOINER
        or (text[index - 1] == "\r" and text[index] == "\n")
        or _inside_flag(text, index)
    ):
        index -= 1
    return index


def _continues(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == _ZERO_WIDTH_JOINER
        or 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag characters (subdivision flags)
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _inside_flag(text: str, index: int) -> bool:
    """Whether `index` falls between the two regional indicators of one flag."""
    if not (_regional(text[index - 1]) and _regional(text[index])):
        return False
    run = 0
    while index - run - 1 >= 0 and _regional(text[index - run - 1]):
        run += 1
    return run % 2 == 1
