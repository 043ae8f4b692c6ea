"""Hostile replies on the library path: refused once with a reason, bounded, never retried."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer, InMemoryMessageStore
from cis.bootstrap import build_rsvp_service, build_service
from cis.domain.model import PartStat
from cis.domain.rsvp import CLOCK_SKEW, MAX_REPLY_HISTORY, MAX_SOURCE_LENGTH, ReplyOutcome
from cis.errors import InvalidEventError
from cis.lambda_handler import RsvpRuntime, make_rsvp_handler
from cis.messages.reply_envelope import StoredMail, read_envelope
from cis.ports.queue import QueueRecord
from cis.services.replies import RsvpService
from tests.replies import (
    AMBIGUOUS_FROM,
    GENUINE_FROM,
    UID,
    UNREADABLE_REPLIES,
    from_header,
    reply_calendar,
    reply_email,
    with_headers,
    without_dtstamp,
)
from tests.support import RSVP_EMAIL, SENDER, Clock, body

T = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def repository() -> InMemoryInviteRepository:
    repo = InMemoryInviteRepository()
    inviter = build_service(repository=repo, mailer=InMemoryMailer(), sender=SENDER,
                            rsvp_email=RSVP_EMAIL)
    inviter.process_batch([QueueRecord("m0", body("ann@example.org", uid=UID))])
    return repo


@pytest.fixture
def service(repository: InMemoryInviteRepository) -> RsvpService:
    return build_rsvp_service(repository=repository)


def ann_is_untouched(repository: Any) -> bool:
    ann = repository.get_attendee(UID, "ann@example.org")
    return ann.partstat is PartStat.NEEDS_ACTION and len(ann.history) == 1


@pytest.mark.parametrize("name", UNREADABLE_REPLIES)
def test_a_reply_that_can_never_be_applied_is_rejected_once_with_its_reason(
    service: RsvpService, repository: Any, name: str,
) -> None:
    raw, words = UNREADABLE_REPLIES[name]
    result = service.apply_mail(raw)
    assert result.outcome is ReplyOutcome.REJECTED, result
    assert words in result.reason
    assert service.apply_mail(raw).outcome is ReplyOutcome.REJECTED
    assert repository.counters["_rsvp"] == {"replies_rejected": 1}
    assert ann_is_untouched(repository)


def inline_notification(raw: bytes) -> str:
    """An SES receipt notification carrying the message itself, as SNS hands it to SQS."""
    receipt = {"action": {"type": "SNS", "encoding": "BASE64"},
               **{f"{check}Verdict": {"status": "PASS"} for check in ("spf", "dkim", "dmarc")}}
    return json.dumps({"notificationType": "Received", "receipt": receipt, "mail": {},
                       "content": base64.b64encode(raw).decode("ascii")})


def test_the_rsvp_handler_hands_back_none_of_them_for_a_retry(repository: Any) -> None:
    store = InMemoryMessageStore()
    records = []
    for number, (raw, _) in enumerate(UNREADABLE_REPLIES.values()):
        store.put("mail", f"rsvp/{number}", raw)
        s3_event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "mail"},
                                        "object": {"key": f"rsvp/{number}"}}}]}
        records.append({"messageId": f"s3-{number}", "body": json.dumps(s3_event)})
        if len(raw) < 200_000:
            records.append({"messageId": f"sns-{number}", "body": inline_notification(raw)})
    handler = make_rsvp_handler(lambda: RsvpRuntime(build_rsvp_service(repository=repository,
                                                                       store=store)))
    assert handler({"Records": records}, None) == {"batchItemFailures": []}
    assert repository.counters["_rsvp"] == {"replies_rejected": len(UNREADABLE_REPLIES)}
    assert ann_is_untouched(repository)


def test_an_attendees_history_keeps_the_newest_replies_and_counts_the_dropped(
    service: RsvpService, repository: Any,
) -> None:
    answers = [PartStat.ACCEPTED, PartStat.DECLINED, PartStat.TENTATIVE]
    for minute in range(MAX_REPLY_HISTORY + 10):
        raw = reply_email(reply_calendar("ann@example.org", answers[minute % 3],
                                         dtstamp=T + dt.timedelta(minutes=minute)))
        assert service.apply_mail(raw).outcome is ReplyOutcome.APPLIED
    ann = repository.get_attendee(UID, "ann@example.org")
    assert ann.history[0].source == "cis:invite"
    replies = ann.history[1:]
    assert len(replies) == MAX_REPLY_HISTORY
    assert ann.replies_dropped == 10
    assert replies[0].at == T + dt.timedelta(minutes=10)
    assert replies[-1].at == ann.last_reply_at == T + dt.timedelta(minutes=MAX_REPLY_HISTORY + 9)
    assert ann.partstat is answers[(MAX_REPLY_HISTORY + 9) % 3]
    assert repository.recount(UID) == repository.get_statistics(UID)
    assert repository.counters[UID]["replies_applied"] == MAX_REPLY_HISTORY + 10


def test_a_huge_prodid_is_stored_as_one_short_line(service: RsvpService,
                                                   repository: Any) -> None:
    prodid = "-//Big\\nCorp//" + "x" * 150_000
    assert service.apply_mail(reply_email(reply_calendar(prodid=prodid))).outcome is (
        ReplyOutcome.APPLIED)
    source = repository.get_attendee(UID, "ann@example.org").history[-1].source
    assert source == ("-//Big Corp//" + "x" * MAX_SOURCE_LENGTH)[:MAX_SOURCE_LENGTH]


@pytest.mark.parametrize("name", AMBIGUOUS_FROM)
def test_a_reply_whose_from_is_not_exactly_one_mailbox_answers_for_no_one(
    service: RsvpService, repository: Any, name: str,
) -> None:
    raw, words = AMBIGUOUS_FROM[name]
    result = service.apply_mail(raw)
    assert result.outcome is ReplyOutcome.REJECTED, result
    assert words in result.reason
    assert repository.counters[UID]["replies_rejected"] == 1
    assert ann_is_untouched(repository)


@pytest.mark.parametrize("sender", GENUINE_FROM)
def test_the_from_shapes_mail_clients_write_are_trusted(
    service: RsvpService, repository: Any, sender: str,
) -> None:
    result = service.apply_mail(from_header(sender))
    assert result.outcome is ReplyOutcome.APPLIED, result
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.ACCEPTED


def test_a_reply_stamped_after_it_arrived_is_rejected_and_locks_no_answer(
    repository: Any,
) -> None:
    service = build_rsvp_service(repository=repository, clock=Clock(T + dt.timedelta(hours=1)))
    from_2099 = reply_email(reply_calendar("ann@example.org", "DECLINED",
                                           dtstamp=dt.datetime(2099, 1, 1, tzinfo=dt.UTC)))
    result = service.apply_mail(from_2099)
    assert result.outcome is ReplyOutcome.REJECTED
    assert "after the mail arrived" in result.reason
    assert repository.counters[UID]["replies_rejected"] == 1
    assert ann_is_untouched(repository)
    genuine = reply_email(reply_calendar("ann@example.org", "ACCEPTED",
                                         dtstamp=T + dt.timedelta(minutes=59)))
    assert service.apply_mail(genuine).outcome is ReplyOutcome.APPLIED
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.ACCEPTED


def test_a_reply_without_dtstamp_is_bounded_by_its_date_header(repository: Any) -> None:
    service = build_rsvp_service(repository=repository, clock=Clock(T))
    raw = with_headers(reply_email(without_dtstamp(reply_calendar())), "Date",
                       "Thu, 01 Jan 2099 00:00:00 +0000")
    result = service.apply_mail(raw)
    assert result.outcome is ReplyOutcome.REJECTED
    assert "after the mail arrived" in result.reason


@pytest.mark.parametrize(("ahead", "outcome"), [
    (CLOCK_SKEW, ReplyOutcome.APPLIED),
    (CLOCK_SKEW + dt.timedelta(seconds=1), ReplyOutcome.REJECTED),
])
def test_a_reply_may_be_stamped_up_to_the_clock_skew_after_it_arrived(
    repository: Any, ahead: dt.timedelta, outcome: ReplyOutcome,
) -> None:
    service = build_rsvp_service(repository=repository, clock=Clock(T))
    raw = reply_email(reply_calendar(dtstamp=T + ahead))
    assert service.apply_mail(raw).outcome is outcome


def stored_notification(key: str, *, arrived: str, ses: bool) -> str:
    """A notification of mail stored under `key` at `arrived`: from S3 itself, or from SES."""
    if ses:
        receipt = {"action": {"type": "S3", "bucketName": "mail", "objectKey": key},
                   "timestamp": arrived}
        return json.dumps({"notificationType": "Received", "receipt": receipt,
                           "mail": {"timestamp": arrived}})
    return json.dumps({"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": arrived,
        "s3": {"bucket": {"name": "mail"}, "object": {"key": key}}}]})


@pytest.mark.parametrize("ses", [False, True])
def test_a_reply_is_bounded_by_when_the_mail_arrived_not_by_when_it_is_read(
    repository: Any, ses: bool,
) -> None:
    store = InMemoryMessageStore()
    store.put("mail", "rsvp/late", reply_email(reply_calendar(dtstamp=T + dt.timedelta(hours=1))))
    store.put("mail", "rsvp/fine", reply_email(reply_calendar(
        "ann@example.org", "DECLINED", dtstamp=T - dt.timedelta(minutes=1))))
    service = build_rsvp_service(repository=repository, store=store,
                                 clock=Clock(T + dt.timedelta(days=2)))  # read much later
    report = service.process_batch([
        QueueRecord("late", stored_notification("rsvp/late", arrived="2026-11-28T12:00:00.000Z",
                                                 ses=ses)),
        QueueRecord("fine", stored_notification("rsvp/fine", arrived="2026-11-28T12:00:00.000Z",
                                                 ses=ses)),
    ])
    assert [(r.outcome, "after the mail arrived" in r.reason) for r in report.results] == [
        (ReplyOutcome.REJECTED, True), (ReplyOutcome.APPLIED, False)]


@pytest.mark.parametrize("arrived", ["yesterday", "9999-12-31T23:59:59-23:59",
                                     "2026-11-28T12:00:00", 1764331200, None])
def test_an_arrival_time_that_is_no_moment_is_left_out_not_retried(arrived: Any) -> None:
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "eventTime": arrived,
              "s3": {"bucket": {"name": "mail"}, "object": {"key": "rsvp/1"}}}
    assert read_envelope(json.dumps({"Records": [record]})) == [StoredMail("mail", "rsvp/1")]


UNREADABLE_NOTIFICATIONS = {
    "JSON nested past the parser's depth": "[" * 100_000 + "]" * 100_000,
    "an SNS message nested past the parser's depth": json.dumps(
        {"Type": "Notification", "Message": "[" * 100_000}),
    "a receipt that is no object": json.dumps({"notificationType": "Received", "receipt": [1]}),
    "an action that is no object": json.dumps(
        {"notificationType": "Received", "receipt": {"action": "S3"}}),
    "a verdict that is no object": json.dumps(
        {"notificationType": "Received", "receipt": {"spfVerdict": ["FAIL"]}, "content": "x"}),
}


@pytest.mark.parametrize("name", UNREADABLE_NOTIFICATIONS)
def test_a_notification_that_can_never_be_read_is_rejected_once_not_retried(
    service: RsvpService, repository: Any, name: str,
) -> None:
    records = [QueueRecord(f"m{n}", UNREADABLE_NOTIFICATIONS[name]) for n in range(2)]
    report = service.process_batch(records)
    assert [r.outcome for r in report.results] == [ReplyOutcome.REJECTED] * 2
    assert report.batch_item_failures() == {"batchItemFailures": []}
    assert repository.counters["_rsvp"] == {"replies_rejected": 1}


def test_the_rsvp_handler_reads_any_sqs_event_shape_without_raising_for_good_records(
    repository: Any,
) -> None:
    store = InMemoryMessageStore()
    store.put("mail", "rsvp/ok", reply_email(reply_calendar("ann@example.org", "ACCEPTED")))
    good = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": "mail"}, "object": {"key": "rsvp/ok"}}}]}
    handler = make_rsvp_handler(lambda: RsvpRuntime(build_rsvp_service(repository=repository,
                                                                       store=store)))
    event = {"Records": ["not a record", None, {"body": json.dumps(good)},
                         {"messageId": "m-no-body"},
                         {"messageId": "m-good", "body": json.dumps(good)}]}

    assert handler(event, None) == {"batchItemFailures": []}
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.ACCEPTED
    with pytest.raises(InvalidEventError, match="no Records"):
        handler({}, None)
