"""Reading SES delivery reports: the documentation's own samples, and hostile bodies refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from cis.domain.delivery import DeliveryStatus
from cis.errors import InvalidFeedbackError
from cis.messages.delivery_feedback import (
    MAX_DIAGNOSTIC_CHARS,
    MAX_FEEDBACK_BYTES,
    MAX_RECIPIENTS,
    read_feedback,
)
from tests.feedback import fixture, fixture_text, in_sns, report

# sample -> (kind, status, [(recipient, permanent)], feedback id, detail, diagnostic)
ACTED_ON: dict[str, tuple[str, DeliveryStatus, list[tuple[str, bool]], str, str | None,
                          str | None]] = {
    "event-bounce": (
        "Bounce", DeliveryStatus.BOUNCED, [("recipient@example.com", True)],
        "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000", "Permanent/General",
        "smtp; 550 5.1.1 user unknown"),
    "event-complaint": (
        "Complaint", DeliveryStatus.COMPLAINED, [("recipient@example.com", False)],
        "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000", "abuse", None),
    "event-delivery": (
        "Delivery", DeliveryStatus.DELIVERED, [("recipient@example.com", False)],
        "delivery@2016-10-19T23:21:04.133000+00:00", None, "250 2.6.0 Message received"),
    "event-reject": (
        "Reject", DeliveryStatus.REJECTED, [("sender@example.com", False)], "reject",
        "Bad content", None),
    "event-delivery-delay": (
        "DeliveryDelay", DeliveryStatus.DELAYED, [("recipient@example.com", False)],
        "delay@2020-06-16T00:25:40.095000+00:00", "TransientCommunicationFailure",
        "smtp; 421 4.4.1 Unable to connect to remote host"),
    "notification-bounce-with-dsn": (
        "Bounce", DeliveryStatus.BOUNCED, [("jane@example.com", True)],
        "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000", "Permanent/General",
        "smtp; 550 5.1.1 <jane@example.com>... User"),
    "notification-bounce-without-dsn": (
        "Bounce", DeliveryStatus.BOUNCED,
        [("jane@example.com", True), ("richard@example.com", True)],
        "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000", "Permanent/General",
        None),
    "notification-complaint-with-feedback-report": (
        "Complaint", DeliveryStatus.COMPLAINED, [("richard@example.com", False)],
        "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000", "abuse", None),
    "notification-complaint-without-feedback-report": (
        "Complaint", DeliveryStatus.COMPLAINED, [("richard@example.com", False)],
        "0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000", None, None),
    "notification-delivery": (
        "Delivery", DeliveryStatus.DELIVERED, [("jane@example.com", False)],
        "delivery@2016-01-27T14:59:38.237000+00:00", None,
        "250 ok: Message 64111812 accepted"),
}

IGNORED = {
    "event-send": "Send",
    "event-open": "Open",
    "event-click": "Click",
    "event-rendering-failure": "Rendering Failure",
    "event-subscription": "Subscription",
}


@pytest.mark.parametrize("wrap", [False, True], ids=["bare", "in SNS"])
@pytest.mark.parametrize("name", sorted(ACTED_ON))
def test_each_documented_sample_is_read_per_recipient(name: str, wrap: bool) -> None:
    kind, status, recipients, feedback_id, detail, diagnostic = ACTED_ON[name]
    text = fixture_text(name)
    message_id = fixture(name)["mail"]["messageId"]

    notice = read_feedback(in_sns(text) if wrap else text)

    assert (notice.kind, notice.ignored) == (kind, None)
    assert [(f.recipient, f.permanent) for f in notice.feedback] == recipients
    for feedback in notice.feedback:
        event = feedback.event
        assert (event.status, event.delivery_id, event.feedback_id) == (
            status, message_id, feedback_id)
        assert (event.detail, event.diagnostic) == (detail, diagnostic)
        assert event.at.tzinfo is dt.UTC
        assert feedback.event_uid is None  # the samples carry no cis-event tag


@pytest.mark.parametrize(("name", "kind"), sorted(IGNORED.items()))
def test_reports_cis_does_not_act_on_are_ignored_by_name(name: str, kind: str) -> None:
    notice = read_feedback(in_sns(fixture_text(name)))

    assert notice.kind == kind
    assert notice.ignored
    assert notice.feedback == ()


def test_the_event_uid_comes_from_the_tags_cis_sent_the_message_with() -> None:
    body = report("event-bounce", message_id="0100018c-ses-1", recipient="Ann@Example.org",
                  event_uid="launch-2026@example.org")

    [feedback] = read_feedback(in_sns(body)).feedback

    assert feedback.event_uid == "launch-2026@example.org"
    assert feedback.recipient == "Ann@Example.org"
    assert feedback.address == "ann@example.org"
    assert feedback.event.delivery_id == "0100018c-ses-1"


def test_a_final_recipient_other_than_the_one_destination_is_that_destination() -> None:
    data = fixture("event-bounce")
    data["mail"]["destination"] = ["ann@example.org"]
    data["bounce"]["bouncedRecipients"][0]["emailAddress"] = "ann.lee@forwarded.example.net"

    [feedback] = read_feedback(json.dumps(data)).feedback

    assert feedback.recipient == "ann@example.org"


def test_sns_subscription_messages_and_ses_setup_notes_are_ignored() -> None:
    confirmation = json.dumps({"Type": "SubscriptionConfirmation", "Message": "confirm"})
    setup = json.dumps({"notificationType": "AmazonSnsSubscriptionSucceeded",
                        "message": "You have successfully subscribed"})

    assert read_feedback(confirmation).ignored
    assert read_feedback(in_sns(setup)).ignored


def test_an_unknown_report_type_is_ignored_and_named() -> None:
    data = fixture("event-send")
    data["eventType"] = "Unsubscribe"

    notice = read_feedback(json.dumps(data))

    assert (notice.kind, notice.feedback) == ("Unsubscribe", ())
    assert notice.ignored is not None and "Unsubscribe" in notice.ignored


def test_a_not_spam_report_withdraws_nothing_and_suppresses_nothing() -> None:
    data = fixture("event-complaint")
    data["complaint"]["complaintFeedbackType"] = "not-spam"

    notice = read_feedback(json.dumps(data))

    assert notice.feedback == ()
    assert notice.ignored is not None and "not-spam" in notice.ignored


def test_a_long_diagnostic_is_kept_on_one_line_and_cut() -> None:
    data = fixture("event-bounce")
    data["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = "550\r\nX-Injected: 1\t" + (
        "x" * 5000)

    [feedback] = read_feedback(json.dumps(data)).feedback

    diagnostic = feedback.event.diagnostic
    assert diagnostic is not None
    assert diagnostic.startswith("550 X-Injected: 1 xxx")
    assert len(diagnostic) == MAX_DIAGNOSTIC_CHARS
    assert "\n" not in diagnostic and "\r" not in diagnostic


def _bounce(**changes: Any) -> dict[str, Any]:
    data = fixture("event-bounce")
    for path, value in changes.items():
        *parents, last = path.split("__")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(("body", "words"), [
    pytest.param("not json", "body: not JSON", id="not JSON"),
    pytest.param("[]", "not a JSON object", id="not an object"),
    pytest.param("[" * 100_000 + "]" * 100_000, "body: nested too deeply",
                 id="nested beyond the parser"),
    pytest.param('{"eventType": "Bounce", "x": ' + "[" * 40 + "]" * 40 + "}",
                 "nests more than 32 deep", id="nested beyond the bound"),
    pytest.param('{"eventType": "Bounce", "eventType": "Delivery"}', "given twice",
                 id="a key given twice"),
    pytest.param(json.dumps({"eventType": "Bounce", "notificationType": "Delivery"}),
                 "ambiguous", id="both type keys"),
    pytest.param(json.dumps({"mail": {}}), "eventType: missing", id="no type"),
    pytest.param(json.dumps({"eventType": 7}), "not an SES report type", id="type not text"),
    pytest.param(json.dumps({"Type": "Notification", "Message": {"eventType": "Bounce"}}),
                 "no Message string", id="SNS message not a string"),
    pytest.param(json.dumps({"Type": "Notification", "Message": "nope"}),
                 "Message: not JSON", id="SNS message not JSON"),
    pytest.param(json.dumps({"Type": "Unexpected"}), "not an SNS Notification",
                 id="SNS type unknown"),
    pytest.param(json.dumps(_bounce(mail=_DELETE)), "mail: missing", id="no mail"),
    pytest.param(json.dumps(_bounce(mail__messageId="bad id")), "mail.messageId",
                 id="message id with a space"),
    pytest.param(json.dumps(_bounce(mail__destination=[])), "mail.destination: 0",
                 id="no destination"),
    pytest.param(json.dumps(_bounce(mail__destination=["not an address"])),
                 "mail.destination[0]: not an address", id="destination not an address"),
    pytest.param(json.dumps(_bounce(mail__tags=["cis-event"])), "mail.tags: not an object",
                 id="tags not an object"),
    pytest.param(json.dumps(_bounce(bounce__bounceType=None)), "bounce.bounceType",
                 id="no bounce type"),
    pytest.param(json.dumps(_bounce(bounce__feedbackId=_DELETE)), "bounce.feedbackId",
                 id="no feedback id"),
    pytest.param(json.dumps(_bounce(bounce__timestamp="2017-08-05T00:41:02")),
                 "has no time zone", id="a time without a zone"),
    pytest.param(json.dumps(_bounce(bounce__timestamp="yesterday")),
                 "not an ISO 8601 time", id="not a time"),
    pytest.param(json.dumps(_bounce(bounce__bouncedRecipients=[])),
                 "bounce.bouncedRecipients: 0 recipients", id="no recipient"),
    pytest.param(json.dumps(_bounce(bounce__bouncedRecipients=["a@example.com"])),
                 "bounce.bouncedRecipients[0]: not an object", id="recipient not an object"),
    pytest.param(json.dumps(_bounce(
        mail__destination=["a@example.com", "b@example.com"],
        bounce__bouncedRecipients=[{"emailAddress": "c@example.com"}])),
        "c@example.com is none of the message's 2 recipients", id="recipient not sent to"),
    pytest.param(json.dumps(_bounce(bounce__bouncedRecipients__0__diagnosticCode=5)),
                 "diagnosticCode: not a string", id="diagnostic not text"),
])
def test_a_body_that_can_never_be_a_report_is_refused_naming_what_is_wrong(
    body: str, words: str,
) -> None:
    with pytest.raises(InvalidFeedbackError) as refused:
        read_feedback(body)

    assert words in refused.value.reason


def test_a_body_larger_than_sqs_allows_is_refused_before_it_is_parsed() -> None:
    body = json.dumps({"eventType": "Bounce", "padding": "x" * MAX_FEEDBACK_BYTES})

    with pytest.raises(InvalidFeedbackError, match=f"larger than {MAX_FEEDBACK_BYTES} bytes"):
        read_feedback(body)


def test_more_recipients_than_ses_sends_to_are_refused() -> None:
    addresses = [f"guest{n}@example.com" for n in range(MAX_RECIPIENTS + 1)]
    body = json.dumps(_bounce(mail__destination=addresses))

    with pytest.raises(InvalidFeedbackError, match="51 recipients"):
        read_feedback(body)


def test_a_recipient_named_twice_is_read_once() -> None:
    body = json.dumps(_bounce(bounce__bouncedRecipients=[
        {"emailAddress": "recipient@example.com"}, {"emailAddress": "RECIPIENT@example.com"}]))

    assert len(read_feedback(body).feedback) == 1
