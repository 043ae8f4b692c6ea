"""One message of an event's life rendered once, then completed cheaply for each attendee."""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email import policy, quoprimime
from email.headerregistry import Address
from email.utils import format_datetime

from cis.domain.model import Event, Invitee, Standing
from cis.domain.rendering.ical import rsvp
from cis.domain.rendering.ical_lines import fold as _fold
from cis.domain.rendering.ical_lines import parameter, parameter_value
from cis.domain.rendering.imip import Invitation, compose_invitation, sender_address
from cis.domain.rendering.text import common_name, display_name

__all__ = ["InvitationTemplate"]

# The reference invitation each template is cut from. Its message id only seeds the MIME
# boundaries; a second and third are there for an event whose text happens to contain the
# first one's boundary.
_REFERENCE_INVITEE = Invitee(email="attendee@example.invalid")
_REFERENCE_NOW = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_REFERENCE_IDS = ("cis-template-1", "cis-template-2", "cis-template-3")

# What compose_invitation writes, given the layout in cis.domain.rendering.imip.
_HEADER_ORDER = (b"From", b"Reply-To", b"To", b"Subject", b"Date", b"Message-ID")
_BOUNDARY = b"=_cis_"
_BOUNDARY_COUNT = 9  # two Content-Type parameters, four delimiters, three closing ones
# The message split at its boundaries: piece 6 is the text/calendar part, 8 the attachment.
_CALENDAR_PART = 6
_ATTACHMENT_PART = 8
_PART_START = b"_1\r\n"
# The calendar part's headers, 7bit (True) or quoted-printable, for its iTIP method.
_CALENDAR_HEAD = {
    (ascii_only, method): (
        f"Content-Transfer-Encoding: {'7bit' if ascii_only else 'quoted-printable'}\r\n"
        f'Content-Type: text/calendar; charset="utf-8"; method="{method}"\r\n\r\n'
    ).encode("ascii")
    for ascii_only in (True, False)
    for method in {str(standing.method) for standing in Standing}
}

# The email package's rules, from email.policy.SMTP and email._header_value_parser.
_SMTP = policy.SMTP
_MAX_HEADER_LINE = 78  # _SMTP.max_line_length
_BASE64_INPUT_LINE = _MAX_HEADER_LINE // 4 * 3  # bytes per base64 line, as contentmanager
_BASE64_LINE = re.compile(rb".{1,%d}" % (_BASE64_INPUT_LINE // 3 * 4), re.DOTALL)
_SPECIALS = frozenset('()<>@,:;.\\"[]')
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*\Z")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FIRST_FOUR_DIGIT_YEAR = 100
_PRINTABLE = re.compile(r"[ -~]*\Z")
# White space other than the ASCII space (a no-break space, say): the email package splits a
# display name's words at it too, in its own way, so such a name is left to it.
_OTHER_SPACE = re.compile(r"[^\S ]")
_Q_SAFE = frozenset(b"-!*+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_Q_ENCODED = tuple(
    "_" if byte == ord(" ") else chr(byte) if byte in _Q_SAFE else f"={byte:02X}"
    for byte in range(256)
)
_Q_BIAS = 5
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# In a calendar from render_calendar: the DTSTAMP line, and the ATTENDEE line that follows it
# with its continuation lines.
_PER_ATTENDEE_LINES = re.compile(
    rb"\r\n(?P<stamp>DTSTAMP:[^\r\n]*\r\n).*?"
    rb"\r\n(?P<attendee>ATTENDEE[;:][^\r\n]*\r\n(?: [^\r\n]*\r\n)*)",
    re.DOTALL,
)
_HEADER_FIELD = re.compile(rb"([^ \t\r\n:]+):[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*")


class InvitationTemplate:
    """One message of an event's life, for many attendees, byte for byte `compose_invitation`.

    Building one renders a reference invitation (for a placeholder attendee) with
    `compose_invitation`, which does the event's expensive work once: the calendar (VTIMEZONE
    included), the text and HTML bodies and their transfer encodings, the From, Reply-To and
    Subject headers. `render` then assembles one attendee's message from those bytes and the few
    parts that differ per attendee (To, Date, Message-ID, the MIME boundaries, DTSTAMP and
    ATTENDEE, the calendar's transfer encoding and the base64 attachment), with string and
    bytes operations only. So does every message of the event's life (`standing`): an
    update at any SEQUENCE, the event's cancellation and an attendee's removal differ from
    an invitation in what the event and standing alone decide (METHOD, STATUS, the subject
    and bodies, the calendar part's method) and in the ATTENDEE's RSVP.

    The promise: `render(i, now=n, email_id=m)` equals `compose_invitation(event, i,
    sender=s, rsvp_email=r, now=n, email_id=m, standing=t, first=f)` for every input, and raises
    what it raises.
    Where the cheap way could differ, the libraries do that part: a To, Date or Message-ID
    header outside the plain cases goes through the email package's header folding; an
    attendee address without `@` or with a line break, or text the message cannot carry,
    goes through `compose_invitation` (which rejects it), counted in `fallbacks`. The cut
    is checked once, by assembling the reference again: if that differs (the layout of
    `compose_invitation` or `render_calendar` changed), every render composes.

    Raises:
        ValueError: what `compose_invitation` raises for this event whoever the attendee
            (a SENDER that is not an address, an unknown time zone, a header that would
            hold a line break).

    """

    def __init__(
        self, event: Event, *, sender: str, rsvp_email: str,
        standing: Standing = Standing.INVITED, first: bool = False,
    ) -> None:
        self.event = event
        self.sender = sender
        self.rsvp_email = rsvp_email
        self.standing = standing
        self.first = first
        self.fallbacks = 0
        """How many invitations `render` handed to `compose_invitation`."""
        from_address = sender_address(sender, event.organizer)
        self._envelope_sender = from_address.addr_spec
        self._id_domain = from_address.domain
        self._cuts: tuple[_MessageCut, _CalendarCut] | None = None
        for reference_id in _REFERENCE_IDS:
            reference = compose_invitation(
                event, _REFERENCE_INVITEE, sender=sender, rsvp_email=rsvp_email,
                now=_REFERENCE_NOW, email_id=reference_id, standing=standing, first=first,
            ).data
            cut = _MessageCut.of(reference, _digest(reference_id))
            if cut is None:
                continue
            message, reference_calendar = cut
            calendar = _CalendarCut.of(reference_calendar)
            if calendar is None:
                break
            # The cuts are only trusted once they put the reference back together exactly.
            self._cuts = message, calendar
            if self._assemble(_REFERENCE_INVITEE, _REFERENCE_NOW, reference_id) == reference:
                break
            self._cuts = None

    @property
    def exact_by_assembly(self) -> bool:
        """False if the reference invitation could not be cut up, so that every render composes.

        That takes a change to the layout `compose_invitation` or `render_calendar` writes.
        """
        return self._cuts is not None

    def render(self, invitee: Invitee, *, now: dt.datetime, email_id: str) -> Invitation:
        """Render the whole message for one attendee; see the class for what it promises."""
        email = invitee.email
        if self._cuts is None or "@" not in email or "\r" in email or "\n" in email:
            return self._compose(invitee, now, email_id)
        try:
            data = self._assemble(invitee, now, email_id)
        except UnicodeEncodeError:
            # Text the message cannot carry (lone surrogates, a non-ASCII message id):
            # compose_invitation raises its own error for it.
            return self._compose(invitee, now, email_id)
        return Invitation(envelope_sender=self._envelope_sender, recipient=email, data=data)

    def _compose(self, invitee: Invitee, now: dt.datetime, email_id: str) -> Invitation:
        self.fallbacks += 1
        return compose_invitation(
            self.event, invitee, sender=self.sender, rsvp_email=self.rsvp_email,
            now=now, email_id=email_id, standing=self.standing, first=self.first,
        )

    def _assemble(self, invitee: Invitee, now: dt.datetime, email_id: str) -> bytes:
        assert self._cuts is not None  # render and __init__ check it first
        message, calendar = self._cuts
        utc = now.astimezone(dt.UTC)
        name = display_name(invitee.name) if invitee.name else ""
        calendar_name = common_name(invitee.name) if invitee.name else ""
        stamp = (
            f"DTSTAMP:{utc.year:04}{utc.month:02}{utc.day:02}"
            f"T{utc.hour:02}{utc.minute:02}{utc.second:02}Z\r\n"
        ).encode("ascii")
        attendee = _attendee_line(calendar_name, str(invitee.partstat), str(invitee.role),
                                  invitee.email, rsvp(self.standing))
        is_ascii = calendar.is_ascii and attendee.isascii()
        if is_ascii:
            body = (calendar.head_7bit, stamp, calendar.middle_7bit, attendee,
                    calendar.tail_7bit)
        else:
            body = (calendar.head_qp, stamp, calendar.middle_qp, _quoted_printable(attendee),
                    calendar.tail_qp)
        boundary = _BOUNDARY + _digest(email_id).encode("ascii")
        return b"".join((
            message.from_line,
            _to_line(name, invitee.email),
            message.subject_line,
            _date_line(utc),
            _message_id_line(email_id, self._id_domain),
            boundary.join(message.before_calendar),
            _CALENDAR_HEAD[is_ascii, str(self.standing.method)],
            *body,
            b"\r\n--",
            boundary,
            boundary.join(message.before_attachment_body),
            calendar.base64_head,
            _base64_lines(b"".join((calendar.head[calendar.base64_split:], stamp,
                                    calendar.middle, attendee, calendar.tail))),
            b"\r\n--",
            boundary,
            message.end,
        ))


@dataclass(frozen=True, slots=True)
class _MessageCut:
    """The reference message's bytes that are the same for every attendee.

    `before_calendar` and `before_attachment_body` are the pieces between MIME boundaries,
    to be joined with each message's own boundary; `from_line` holds From and Reply-To, which
    the event alone decides.
    """

    from_line: bytes
    subject_line: bytes
    before_calendar: tuple[bytes, ...]
    before_attachment_body: tuple[bytes, ...]
    end: bytes

    @classmethod
    def of(cls, reference: bytes, digest: str) -> tuple[_MessageCut, bytes] | None:
        """Cut the reference apart, or None if it does not have the expected layout.

        Also returns the reference's calendar, read back from its base64 attachment.
        """
        fields, position = [], 0
        for name in _HEADER_ORDER:
            field = _HEADER_FIELD.match(reference, position)
            if field is None or field.group(1) != name:
                return None
            fields.append(field.group(0))
            position = field.end()
        pieces = reference[position:].split(_BOUNDARY + digest.encode("ascii"))
        if len(pieces) != _BOUNDARY_COUNT + 1:
            return None
        calendar, attachment = pieces[_CALENDAR_PART], pieces[_ATTACHMENT_PART]
        attachment_head_end = attachment.find(b"\r\n\r\n") + 4
        if not calendar.startswith(_PART_START) or attachment_head_end < 4:
            return None
        cut = cls(
            from_line=fields[0] + fields[1],
            subject_line=fields[3],
            before_calendar=(*pieces[:_CALENDAR_PART], _PART_START),
            before_attachment_body=(
                *pieces[_CALENDAR_PART + 1: _ATTACHMENT_PART], attachment[:attachment_head_end]
            ),
            end=pieces[-1],
        )
        try:
            return cut, binascii.a2b_base64(attachment[attachment_head_end:])
        except binascii.Error:
            return None


@dataclass(frozen=True, slots=True)
class _CalendarCut:
    """The reference calendar around its two per-attendee lines, DTSTAMP and ATTENDEE.

    `render_calendar` writes VEVENT properties in a fixed order (DTSTAMP after DTEND, ATTENDEE
    first of the rest), so the event's own lines fall in three runs: `head`, `middle` and `tail`.
    Each is kept raw (for the base64 attachment), with line breaks as the 7bit part writes
    them, and quoted-printable as the email package encodes it, line by line.
    """

    head: bytes
    middle: bytes
    tail: bytes
    is_ascii: bool
    head_7bit: bytes
    middle_7bit: bytes
    tail_7bit: bytes
    head_qp: bytes
    middle_qp: bytes
    tail_qp: bytes
    base64_split: int
    base64_head: bytes

    @classmethod
    def of(cls, calendar: bytes) -> _CalendarCut | None:
        """Cut the reference calendar, or None if it does not have the expected layout."""
        lines = _PER_ATTENDEE_LINES.search(calendar)
        if lines is None:
            return None
        head, middle, tail = (calendar[: lines.start("stamp")],
                              calendar[lines.end("stamp"): lines.start("attendee")],
                              calendar[lines.end("attendee"):])
        split = len(head) // _BASE64_INPUT_LINE * _BASE64_INPUT_LINE
        return cls(
            head=head, middle=middle, tail=tail,
            is_ascii=head.isascii() and middle.isascii() and tail.isascii(),
            head_7bit=_crlf_lines(head),
            middle_7bit=_crlf_lines(middle),
            tail_7bit=_crlf_lines(tail),
            head_qp=_quoted_printable(head),
            middle_qp=_quoted_printable(middle),
            tail_qp=_quoted_printable(tail),
            base64_split=split,
            base64_head=_base64_lines(head[:split]) if split else b"",
        )


def _digest(email_id: str) -> str:
    """The boundary seed, as `compose_invitation` derives it from the message id."""
    return hashlib.sha256(email_id.encode("utf-8")).hexdigest()[:24]


def _crlf_lines(lines: bytes) -> bytes:
    """Line breaks as the generator writes a 7bit text part: every CR, LF or CRLF as CRLF."""
    return _LINE_BREAK.sub(b"\r\n", lines)


def _quoted_printable(lines: bytes) -> bytes:
    """Whole lines as the email package's quoted-printable body encoding writes them.

    It encodes each line on its own (soft breaks at 78), so runs of lines encode separately.
    """
    if not lines:
        return b""
    text = b"\n".join(lines.splitlines()).decode("latin-1") + "\n"
    return quoprimime.body_encode(text, _MAX_HEADER_LINE).replace("\n", "\r\n").encode("ascii")


def _base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76, each ended by CRLF, as the email package writes an attachment."""
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\r\n".join(_BASE64_LINE.findall(encoded)) + b"\r\n" if encoded else b""


def _attendee_line(name: str, partstat: str, role: str, email: str, rsvp: str) -> bytes:
    """The folded ATTENDEE content line with its CRLF, as `render_calendar` writes it."""
    params = parameter("CN", name) + ";" if name else ""
    line = (
        f"ATTENDEE;{params}CUTYPE=INDIVIDUAL;PARTSTAT={parameter_value(partstat)}"
        f";ROLE={parameter_value(role)};RSVP={rsvp}:mailto:{email}"
    ).encode()
    return _fold(line) + b"\r\n"


def _to_line(name: str, email: str) -> bytes:
    """The To header as the email package writes `Address(name, *email.rsplit("@", 1))`.

    Written directly for a plain dot-atom address whose header fits on a line, with a name
    that is printable ASCII (quoted if it holds specials) or, without specials and with no
    white space but the ASCII space, one that needs an encoded word; the email package folds
    everything else.
    """
    username, domain = email.rsplit("@", 1)
    if "=" not in name and "=?" not in email and _DOT_ATOM.match(username) and (
        _DOT_ATOM.match(domain)
    ):
        if not name:
            line = _unfolded_header("To", email)
        elif _PRINTABLE.match(name):
            display = name if _SPECIALS.isdisjoint(name) else (
                '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            )
            line = _unfolded_header("To", f"{display} <{email}>")
        elif _SPECIALS.isdisjoint(name) and not _OTHER_SPACE.search(name):
            line = _unfolded_header("To", f"{_encoded_phrase(name)} <{email}>", may_move=False)
        else:
            line = None
        if line is not None:
            return line
    return _email_header_line("To", Address(display_name=name, username=username, domain=domain))


def _encoded_phrase(name: str) -> str:
    """A display name with its non-ASCII words as the email package encodes them on one line.

    It writes the run from the first to the last word that needs encoding as one encoded
    word (RFC 2047, UTF-8, "q" unless "b" is more than 4 characters shorter), the ASCII words
    around that run as they are.
    """
    words = name.split(" ")
    needs_encoding = [i for i, word in enumerate(words) if not word.isascii()]
    first, last = needs_encoding[0], needs_encoding[-1]
    data = " ".join(words[first: last + 1]).encode("utf-8")
    q_encoded = "".join([_Q_ENCODED[byte] for byte in data])
    if len(q_encoded) - (len(data) + 2) // 3 * 4 < _Q_BIAS:
        encoded = f"=?utf-8?q?{q_encoded}?="
    else:
        encoded = f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?="
    return " ".join([*words[:first], encoded, *words[last + 1:]])


def _message_id_line(email_id: str, domain: str) -> bytes:
    """The Message-ID header; the email package folds what is not a plain dot-atom pair."""
    value = f"<{email_id}@{domain}>"
    if "=?" not in value and _DOT_ATOM.match(email_id) and _DOT_ATOM.match(domain):
        line = _unfolded_header("Message-ID", value)
        if line is not None:
            return line
    return _email_header_line("Message-ID", value)


def _date_line(utc: dt.datetime) -> bytes:
    """The Date header, as `format_datetime` writes a UTC time.

    The email package parses the value again and writes what it read; it reads a year below
    100 as 19xx or 20xx, so those go through it.
    """
    if utc.year < _FIRST_FOUR_DIGIT_YEAR:
        return _email_header_line("Date", format_datetime(utc))
    return (
        f"Date: {_WEEKDAYS[utc.weekday()]}, {utc.day:02} {_MONTHS[utc.month - 1]} {utc.year:04}"
        f" {utc.hour:02}:{utc.minute:02}:{utc.second:02} +0000\r\n"
    ).encode("ascii")


def _unfolded_header(name: str, value: str, *, may_move: bool = True) -> bytes | None:
    """A header the email package leaves in one piece, or None if it would split it.

    A value that fits after the name stays there; an ASCII one that fits on a line by itself
    moves to the next line.
    """
    if len(name) + 2 + len(value) <= _MAX_HEADER_LINE:
        return f"{name}: {value}\r\n".encode("ascii")
    if may_move and len(value) + 1 <= _MAX_HEADER_LINE:
        return f"{name}:\r\n {value}\r\n".encode("ascii")
    return None


def _email_header_line(name: str, value: str | Address) -> bytes:
    """One header exactly as `EmailMessage` with the SMTP policy stores and serialises it."""
    stored_name, stored = _SMTP.header_store_parse(name, value)
    return _SMTP.fold_binary(stored_name, stored)
