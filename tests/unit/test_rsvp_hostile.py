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
from cis.domain.rsvp import MAX_REPLY_HISTORY, MAX_SOURCE_LENGTH, ReplyOutcome
from cis.lambda_handler import RsvpRuntime, make_rsvp_handler
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
)
from tests.support import RSVP_EMAIL, SENDER, body

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
