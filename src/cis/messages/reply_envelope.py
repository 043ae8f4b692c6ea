"""Where a reply arrives from: the shapes an SQS message takes when SES receives mail.

SES either stores the raw message in S3 (the bucket's event notification reaches SQS
directly or through SNS, or SES itself notifies SNS with the object's location), or publishes
the whole message to SNS. Each shape is read into what the RSVP service needs: the bytes, or
where to fetch them, and SES's verdicts when the notification carries them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from cis.domain.rsvp import Verdicts, quoted
from cis.errors import InvalidReplyError


@dataclass(frozen=True, slots=True)
class StoredMail:
    """A message to fetch from S3."""

    bucket: str
    key: str
    verdicts: Verdicts | None = None
    #: When the mail arrived (the object was created, SES received it); None if not said.
    received_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class InlineMail:
    """A message carried in the notification itself."""

    raw: bytes
    verdicts: Verdicts | None = None
    #: When SES received the mail; None if the notification does not say.
    received_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class NoMail:
    """A notification that carries no message (S3's test event); acknowledged, ignored."""

    reason: str


InboundMail = StoredMail | InlineMail | NoMail


def read_envelope(body: str) -> list[InboundMail]:
    """Read one SQS message body into the mail it announces.

    Raises:
        InvalidReplyError: a body in none of the known shapes; it can never become one.

    """
    data = _json(body, "notification")
    if isinstance(data, dict) and data.get("Type") == "Notification":
        message = data.get("Message")
        if not isinstance(message, str):
            raise InvalidReplyError("SNS notification has no Message string")
        data = _json(message, "SNS Message")
    if not isinstance(data, dict):
        raise InvalidReplyError("notification is not a JSON object")
    if data.get("Event") == "s3:TestEvent":
        return [NoMail("S3 test event")]
    if isinstance(data.get("Records"), list):
        return [_s3_record(record) for record in data["Records"]]
    if data.get("notificationType") == "Received":
        return [_ses_notification(data)]
    raise InvalidReplyError("notification is neither an S3 event nor an SES receipt")


def _json(text: str, what: str) -> Any:
    """`text` parsed as JSON; nesting deeper than the parser goes is as unreadable as a typo."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidReplyError(f"{what} is not JSON: {quoted(str(exc), 200)}") from None


def _object(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    """The JSON object under `name` (empty when there is none); anything else is refused."""
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidReplyError(f"{where}'s {name} is not an object")
    return value


def _s3_record(record: Any) -> InboundMail:
    try:
        bucket = record["s3"]["bucket"]["name"]
        key = record["s3"]["object"]["key"]
    except (KeyError, TypeError):
        raise InvalidReplyError("S3 event record has no bucket name or object key") from None
    if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
        "ObjectCreated"
    ):
        return NoMail(f"S3 event {record.get('eventName')!r} is not a new object")
    return StoredMail(bucket=str(bucket), key=unquote_plus(str(key)),
                      received_at=_moment(record.get("eventTime")))


def _ses_notification(data: dict[str, Any]) -> InboundMail:
    receipt = _object(data, "receipt", "SES notification")
    verdicts = Verdicts(
        spf=_verdict(receipt, "spfVerdict"),
        dkim=_verdict(receipt, "dkimVerdict"),
        dmarc=_verdict(receipt, "dmarcVerdict"),
        spam=_verdict(receipt, "spamVerdict"),
        virus=_verdict(receipt, "virusVerdict"),
    )
    action = _object(receipt, "action", "SES receipt")
    received_at = _moment(_object(data, "mail", "SES notification").get("timestamp"))
    if action.get("type") == "S3":
        bucket, key = action.get("bucketName"), action.get("objectKey")
        if not bucket or not key:
            raise InvalidReplyError("SES S3 action has no bucketName or objectKey")
        return StoredMail(bucket=str(bucket), key=str(key), verdicts=verdicts,
                          received_at=received_at)
    content = data.get("content")
    if not isinstance(content, str):
        raise InvalidReplyError("SES notification carries no content and no S3 location")
    if str(action.get("encoding", "UTF8")).upper() == "BASE64":
        try:
            return InlineMail(raw=base64.b64decode(content, validate=True), verdicts=verdicts,
                              received_at=received_at)
        except (binascii.Error, ValueError) as exc:
            raise InvalidReplyError(f"SES content is not base64: {exc}") from None
    return InlineMail(raw=content.encode("utf-8"), verdicts=verdicts, received_at=received_at)


def _moment(value: Any) -> dt.datetime | None:
    """An ISO 8601 time with its offset, as S3 and SES write them; None for anything else.

    Without it the mail is taken to have arrived when it is read, which is later still.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
        return moment.astimezone(dt.UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _verdict(receipt: dict[str, Any], name: str) -> str | None:
    status = _object(receipt, name, "SES receipt").get("status")
    return str(status).upper() if status else None
