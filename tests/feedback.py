"""Builders for delivery feedback tests: the SES documentation's samples, pointed at our mail."""

from __future__ import annotations

import copy
import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any

from cis.domain.delivery import DeliveryEvent, DeliveryStatus
from cis.domain.feedback import Feedback
from cis.messages.feedback_tags import event_tags

FIXTURES = Path(__file__).parent / "fixtures" / "feedback"

_RECIPIENT_LISTS = {
    "bounce": "bouncedRecipients",
    "complaint": "complainedRecipients",
    "deliveryDelay": "delayedRecipients",
}


@cache
def _sample(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return sample


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one sample, e.g. `event-bounce` or `notification-delivery`."""
    return copy.deepcopy(_sample(name))


def fixture_text(name: str) -> str:
    """The sample file's text, byte for byte."""
    return (FIXTURES / f"{name}.json").read_text()


def report(name: str, *, message_id: str, recipient: str, event_uid: str | None = None,
           feedback_id: str | None = None, timestamp: str | None = None) -> str:
    """The sample `name` about one message of ours: its id, its one recipient, its tags."""
    data = fixture(name)
    mail = data["mail"]
    mail["messageId"] = message_id
    mail["destination"] = [recipient]
    for key, listed in _RECIPIENT_LISTS.items():
        if key in data:
            data[key][listed] = [{**data[key][listed][0], "emailAddress": recipient}]
    if "delivery" in data:
        data["delivery"]["recipients"] = [recipient]
    for key in ("bounce", "complaint"):
        if key in data and feedback_id is not None:
            data[key]["feedbackId"] = feedback_id
    for key in ("bounce", "complaint", "delivery", "deliveryDelay"):
        if key in data and timestamp is not None:
            data[key]["timestamp"] = timestamp
    tags = mail.setdefault("tags", {}) if "eventType" in data else None
    if event_uid is not None:
        if tags is None:
            raise ValueError("identity notifications carry no tags")
        tags.update({name: [value] for name, value in event_tags(event_uid)})
    return json.dumps(data)


def in_sns(message: str) -> str:
    """The SQS body SNS writes for `message` without raw message delivery."""
    return json.dumps({
        "Type": "Notification",
        "MessageId": "6a1f3bd2-0000-4000-8000-000000000002",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:cis-feedback",
        "Message": message,
        "Timestamp": "2026-11-28T09:31:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    })


def feedback(status: DeliveryStatus, *, recipient: str = "ann@example.org",
             event_uid: str | None = "launch-2026", delivery_id: str = "ses-1",
             feedback_id: str = "fb-1", at: dt.datetime | None = None,
             permanent: bool = False, detail: str | None = None) -> Feedback:
    """One recipient's report, as the parser gives it."""
    moment = at or dt.datetime(2026, 11, 28, 9, 40, tzinfo=dt.UTC)
    return Feedback(DeliveryEvent(status, moment, delivery_id, feedback_id, detail,
                                  "smtp; 550 5.1.1 user unknown" if permanent else None),
                    recipient=recipient, event_uid=event_uid, permanent=permanent)
