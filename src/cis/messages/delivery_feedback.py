"""SES delivery reports as SNS hands them to SQS, read strictly into `Feedback` per recipient.

Two shapes say the same things: event publishing through a configuration set (`eventType`,
with the message's tags) and an identity's feedback notifications (`notificationType`, no
tags). Either comes inside an SNS envelope whose `Message` is the SES JSON (SNS to SQS
without raw delivery), or bare. Everything in a body is read as hostile: its size, depth and
every field cis uses are checked, and one that cannot be read is refused with the field named
(`InvalidFeedbackError`), never guessed. Reports cis does not act on (Send, Open, Click,
Rendering Failure, Subscription, SNS's own confirmations) are read as ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from cis.domain.delivery import DeliveryEvent, DeliveryStatus
from cis.domain.feedback import Feedback
from cis.domain.model import normalise_address
from cis.errors import InvalidFeedbackError
from cis.messages.feedback_tags import event_uid_from_tags
from cis.messages.invite_rules import address_problem

__all__ = [
    "MAX_DIAGNOSTIC_CHARS", "MAX_FEEDBACK_BYTES", "MAX_NESTING", "MAX_RECIPIENTS",
    "FeedbackNotice", "read_feedback",
]

MAX_FEEDBACK_BYTES = 256 * 1024
"""SQS's message limit: SES's largest report (headers truncated at its own limit) fits."""
MAX_NESTING = 32
"""Arrays and objects a value may sit inside: SES's reports nest five deep."""
MAX_RECIPIENTS = 50
"""SES's own limit of recipients per message: a report naming more did not come from SES."""
MAX_DIAGNOSTIC_CHARS = 500
"""The receiving server's words kept per report: enough for any SMTP reply line."""

ACTED_ON = {
    "Bounce": DeliveryStatus.BOUNCED,
    "Complaint": DeliveryStatus.COMPLAINED,
    "Delivery": DeliveryStatus.DELIVERED,
    "Reject": DeliveryStatus.REJECTED,
    "DeliveryDelay": DeliveryStatus.DELAYED,
}
"""The SES report types cis writes on attendees."""

IGNORED = {
    "Send": "the send is recorded when SES accepts the message",
    "Open": "opens are not tracked",
    "Click": "clicks are not tracked",
    "Rendering Failure": "cis sends no SES templates",
    "Subscription": "cis keeps no SES contact lists",
    "AmazonSnsSubscriptionSucceeded": "SES's note that the topic is subscribed",
}
"""SES report types acknowledged without any change, and why."""

_SNS_CONFIRMATIONS = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+=-]{0,255}")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9 _.:-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]+")


@dataclass(frozen=True, slots=True)
class FeedbackNotice:
    """One queue message read: its SES type, and a `Feedback` per recipient, or why none."""

    kind: str
    feedback: tuple[Feedback, ...] = ()
    #: Why the message is acknowledged without a change (an Open, a Send...); None if acted on.
    ignored: str | None = None


def read_feedback(body: str | bytes) -> FeedbackNotice:
    """Read one SQS body holding an SES report, in an SNS envelope or bare.

    Raises:
        InvalidFeedbackError: the body is too large, not JSON, ambiguous, or a report whose
            fields cis uses are missing or malformed; the reason names the field.

    """
    data = _loads(body, "body")
    if isinstance(data, dict) and "Type" in data and not _ses_type_key(data):
        kind = data.get("Type")
        if kind in _SNS_CONFIRMATIONS:
            return FeedbackNotice(str(kind), ignored="SNS subscription message")
        if kind != "Notification":
            raise InvalidFeedbackError(f"Type: {_shown(kind)} is not an SNS Notification")
        message = data.get("Message")
        if not isinstance(message, str):
            raise InvalidFeedbackError("Message: the SNS envelope holds no Message string")
        data = _loads(message, "Message")
    if not isinstance(data, dict):
        raise InvalidFeedbackError("body: not a JSON object")
    return _report(data)


def _loads(text: str | bytes, where: str) -> Any:
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_FEEDBACK_BYTES:
        raise InvalidFeedbackError(f"{where}: larger than {MAX_FEEDBACK_BYTES} bytes")
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidFeedbackError(f"{where}: not JSON: {exc}") from None
    except RecursionError:
        raise InvalidFeedbackError(f"{where}: nested too deeply") from None
    _check_depth(data, where)
    return data


def _object(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a key given twice is ambiguous (which value did SES mean?): refused."""
    value: dict[str, Any] = {}
    for key, item in pairs:
        if key in value:
            raise InvalidFeedbackError(f"{_shown(key)}: given twice in one object")
        value[key] = item
    return value


def _check_depth(data: Any, where: str) -> None:
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING:
            raise InvalidFeedbackError(f"{where}: nests more than {MAX_NESTING} deep")
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


def _ses_type_key(data: dict[str, Any]) -> str | None:
    """`eventType` or `notificationType`, whichever the report names its type by."""
    keys = [key for key in ("eventType", "notificationType") if key in data]
    if len(keys) > 1:
        raise InvalidFeedbackError("eventType and notificationType: both given, so which "
                                   "shape this is is ambiguous")
    return keys[0] if keys else None


def _report(data: dict[str, Any]) -> FeedbackNotice:
    key = _ses_type_key(data)
    if key is None:
        raise InvalidFeedbackError("eventType: missing; not an SES event (eventType) nor an "
                                   "SES notification (notificationType)")
    kind = data[key]
    if not isinstance(kind, str) or not _TOKEN.fullmatch(kind):
        raise InvalidFeedbackError(f"{key}: {_shown(kind)} is not an SES report type")
    if kind in IGNORED:
        return FeedbackNotice(kind, ignored=IGNORED[kind])
    status = ACTED_ON.get(kind)
    if status is None:
        return FeedbackNotice(kind, ignored=f"an SES report type cis does not know: {kind}")
    mail = _field(data, "mail", dict, "mail")
    message_id = _identifier(mail, "messageId", "mail.messageId")
    destinations = _destinations(mail)
    tags = mail.get("tags")
    if tags is not None and not isinstance(tags, dict):
        raise InvalidFeedbackError("mail.tags: not an object")
    event_uid = event_uid_from_tags(tags or {})
    reader = _READERS[status]
    ignored, reports = reader(data, mail, destinations)
    if ignored:
        return FeedbackNotice(kind, ignored=ignored)
    feedback = tuple(
        Feedback(DeliveryEvent(status, at, message_id, feedback_id, detail, diagnostic),
                 recipient=recipient, event_uid=event_uid, permanent=permanent)
        for recipient, at, feedback_id, detail, diagnostic, permanent in reports)
    return FeedbackNotice(kind, feedback=feedback)


_Report = tuple[str, dt.datetime, str, str | None, str | None, bool]
"""One recipient's report: recipient, time, feedback id, detail, diagnostic, permanent."""
_Read = tuple[str | None, list[_Report]]


def _bounce(data: dict[str, Any], mail: dict[str, Any], destinations: list[str]) -> _Read:
    bounce = _field(data, "bounce", dict, "bounce")
    bounce_type = _token(bounce, "bounceType", "bounce.bounceType", required=True)
    subtype = _token(bounce, "bounceSubType", "bounce.bounceSubType")
    at = _moment(bounce, "timestamp", "bounce.timestamp")
    feedback_id = _identifier(bounce, "feedbackId", "bounce.feedbackId")
    detail = f"{bounce_type}/{subtype}" if subtype else bounce_type
    reports: list[_Report] = []
    for where, recipient, entry in _recipients(bounce, "bouncedRecipients", destinations,
                                               "bounce"):
        diagnostic = _text(entry, "diagnosticCode", f"{where}.diagnosticCode") or _text(
            entry, "status", f"{where}.status")
        reports.append((recipient, at, feedback_id, detail, diagnostic,
                        bounce_type == "Permanent"))
    return None, reports


def _complaint(data: dict[str, Any], mail: dict[str, Any], destinations: list[str]) -> _Read:
    complaint = _field(data, "complaint", dict, "complaint")
    feedback_type = _token(complaint, "complaintFeedbackType", "complaint.complaintFeedbackType")
    if feedback_type == "not-spam":
        return ("a not-spam report says the message was not spam: it suppresses nothing",
                [])
    subtype = _token(complaint, "complaintSubType", "complaint.complaintSubType")
    at = _moment(complaint, "timestamp", "complaint.timestamp")
    feedback_id = _identifier(complaint, "feedbackId", "complaint.feedbackId")
    detail = "/".join(part for part in (feedback_type, subtype) if part) or None
    return None, [(recipient, at, feedback_id, detail, None, False) for _, recipient, _ in
                  _recipients(complaint, "complainedRecipients", destinations, "complaint")]


def _delivery(data: dict[str, Any], mail: dict[str, Any], destinations: list[str]) -> _Read:
    delivery = _field(data, "delivery", dict, "delivery")
    at = _moment(delivery, "timestamp", "delivery.timestamp")
    answer = _text(delivery, "smtpResponse", "delivery.smtpResponse")
    return None, [(recipient, at, f"delivery@{at.isoformat()}", None, answer, False)
                  for _, recipient, _ in _recipients(delivery, "recipients", destinations,
                                                     "delivery", bare=True)]


def _reject(data: dict[str, Any], mail: dict[str, Any], destinations: list[str]) -> _Read:
    reject = _field(data, "reject", dict, "reject")
    reason = _text(reject, "reason", "reject.reason")
    at = _moment(mail, "timestamp", "mail.timestamp")
    return None, [(recipient, at, "reject", reason, None, False) for recipient in destinations]


def _delay(data: dict[str, Any], mail: dict[str, Any], destinations: list[str]) -> _Read:
    delay = _field(data, "deliveryDelay", dict, "deliveryDelay")
    at = _moment(delay, "timestamp", "deliveryDelay.timestamp")
    delay_type = _token(delay, "delayType", "deliveryDelay.delayType")
    reports: list[_Report] = []
    for where, recipient, entry in _recipients(delay, "delayedRecipients", destinations,
                                               "deliveryDelay"):
        diagnostic = _text(entry, "diagnosticCode", f"{where}.diagnosticCode") or _text(
            entry, "status", f"{where}.status")
        reports.append((recipient, at, f"delay@{at.isoformat()}", delay_type, diagnostic,
                        False))
    return None, reports


_READERS = {
    DeliveryStatus.BOUNCED: _bounce,
    DeliveryStatus.COMPLAINED: _complaint,
    DeliveryStatus.DELIVERED: _delivery,
    DeliveryStatus.REJECTED: _reject,
    DeliveryStatus.DELAYED: _delay,
}


def _destinations(mail: dict[str, Any]) -> list[str]:
    """The message's recipients, as sent: what a reported recipient must be one of."""
    listed = _field(mail, "destination", list, "mail.destination")
    if not 1 <= len(listed) <= MAX_RECIPIENTS:
        raise InvalidFeedbackError(f"mail.destination: {len(listed)} recipients; a message "
                                   f"has 1 to {MAX_RECIPIENTS}")
    return [_address(value, f"mail.destination[{n}]") for n, value in enumerate(listed)]


def _recipients(
    report: dict[str, Any], name: str, destinations: list[str], prefix: str, *,
    bare: bool = False,
) -> list[tuple[str, str, dict[str, Any]]]:
    """Each reported recipient once, as the destination it stands for, with its entry.

    Entries are objects with an `emailAddress`, or (`bare`) the addresses themselves. A mail
    system reports the final recipient, which may differ from the address sent to
    (forwarding): a message with one destination can only be about that one; with several,
    an address that is none of them is ambiguous and refused.
    """
    listed = _field(report, name, list, f"{prefix}.{name}")
    if not 1 <= len(listed) <= MAX_RECIPIENTS:
        raise InvalidFeedbackError(f"{prefix}.{name}: {len(listed)} recipients; a report "
                                   f"names 1 to {MAX_RECIPIENTS}")
    by_address = {normalise_address(value): value for value in destinations}
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for n, entry in enumerate(listed):
        where = f"{prefix}.{name}[{n}]"
        if bare:
            address, entry = _address(entry, where), {}
        elif isinstance(entry, dict):
            address = _address(entry.get("emailAddress"), f"{where}.emailAddress")
        else:
            raise InvalidFeedbackError(f"{where}: not an object")
        destination = by_address.get(normalise_address(address))
        if destination is None:
            if len(destinations) != 1:
                raise InvalidFeedbackError(f"{where}: {address} is none of the message's "
                                           f"{len(destinations)} recipients")
            destination = destinations[0]
        found.setdefault(normalise_address(destination), (where, destination, entry))
    return list(found.values())


def _field(data: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        expected = "an object" if kind is dict else "a list"
        raise InvalidFeedbackError(f"{where}: missing or not {expected}")
    return value


def _identifier(data: dict[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidFeedbackError(f"{where}: {_shown(value)} is not an SES id (1-256 of "
                                   "A-Z a-z 0-9 . _ @ + = -)")
    return value


def _token(data: dict[str, Any], name: str, where: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InvalidFeedbackError(f"{where}: {_shown(value)} is not an SES type name")
    return value


def _moment(data: dict[str, Any], name: str, where: str) -> dt.datetime:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidFeedbackError(f"{where}: missing or not an ISO 8601 time")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidFeedbackError(f"{where}: {_shown(value)} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidFeedbackError(f"{where}: {_shown(value)} has no time zone")
    return moment.astimezone(dt.UTC)


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > 512:
        raise InvalidFeedbackError(f"{where}: missing or not an address")
    address = parseaddr(value)[1] or value
    problem = address_problem(address)
    if problem:
        raise InvalidFeedbackError(f"{where}: not an address: {problem}")
    return address


def _text(data: dict[str, Any], name: str, where: str) -> str | None:
    """A free-text field on one line, cut to `MAX_DIAGNOSTIC_CHARS`; None when absent."""
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFeedbackError(f"{where}: not a string")
    line = " ".join(_CONTROL.sub(" ", value).split())
    if len(line) > MAX_DIAGNOSTIC_CHARS:
        line = line[: MAX_DIAGNOSTIC_CHARS - 1] + "…"
    return line or None


def _shown(value: Any) -> str:
    """A value quoted for a reason, cut short: the reason must stay one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
