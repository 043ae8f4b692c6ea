"""RSVP replies: reading every client's shape, trusting only the attendee, applying once."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer, InMemoryMessageStore
from cis.bootstrap import build_rsvp_service, build_service
from cis.domain.model import EventStatus, InviteAction, Invitee, InviteRequest, PartStat, Standing
from cis.domain.rsvp import ReplyOutcome, Verdicts, check_trust
from cis.errors import InvalidReplyError, MessageStoreError, NotAReplyError
from cis.lambda_handler import RsvpRuntime, make_rsvp_handler
from cis.messages.reply_envelope import InlineMail, NoMail, StoredMail, read_envelope
from cis.messages.reply_mail import read_reply
from cis.ports.queue import QueueRecord
from cis.services.replies import RsvpService
from tests.replies import UID, reply_calendar, reply_email, with_headers
from tests.support import RSVP_EMAIL, SENDER, body

T = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def repository() -> InMemoryInviteRepository:
    repo = InMemoryInviteRepository()
    inviter = build_service(repository=repo, mailer=InMemoryMailer(), sender=SENDER,
                            rsvp_email=RSVP_EMAIL)
    inviter.process_batch([QueueRecord(f"m{n}", body(a, uid=UID)) for n, a in
                           enumerate(["ann@example.org", "Bob@Example.net", "carol@example.org"])])
    return repo


@pytest.fixture
def service(repository: InMemoryInviteRepository) -> RsvpService:
    return build_rsvp_service(repository=repository)


@pytest.mark.parametrize("layout", ["inline", "attachment", "qp"])
def test_reply_is_read_from_any_mime_layout(layout: str) -> None:
    raw = reply_email(reply_calendar("ann@example.org", "DECLINED"), layout=layout)
    reply, verdicts = read_reply(raw)
    assert (reply.method, reply.event_uid, reply.attendee) == ("REPLY", UID, "ann@example.org")
    assert reply.partstat is PartStat.DECLINED
    assert reply.dtstamp == T
    assert reply.source == "-//Google Inc//Google Calendar 70.9054//EN"
    assert verdicts == Verdicts(spf="PASS", dkim="PASS", dmarc="PASS")


def test_outlook_capital_mailto_and_case_are_understood(service: RsvpService,
                                                        repository: Any) -> None:
    raw = reply_email(reply_calendar("BOB@example.NET", "ACCEPTED", mailto="MAILTO:"),
                      sender="Bob <bob@EXAMPLE.net>")
    result = service.apply_mail(raw)
    assert result.outcome is ReplyOutcome.APPLIED
    assert repository.get_attendee(UID, "bob@example.net").partstat is PartStat.ACCEPTED


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (reply_email(None), "no calendar"),
        (reply_email(reply_calendar(method="REQUEST")), "REQUEST is not a reply"),
    ],
)
def test_mail_that_is_not_a_reply_is_ignored(raw: bytes, words: str) -> None:
    with pytest.raises(NotAReplyError, match=words):
        read_reply(raw)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (reply_email("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nnonsense\r\n"),
         "does not parse"),
        (reply_email(reply_calendar(extra_attendees=(
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:eve@example.net",))), "exactly one ATTENDEE"),
        (reply_email(reply_calendar(partstat=None)), "no PARTSTAT"),
        (reply_email(reply_calendar(partstat="MAYBE")), "PARTSTAT 'MAYBE'"),
        (reply_email(reply_calendar(sequence="two")), "SEQUENCE 'two'"),
        (reply_email(reply_calendar(sequence="-1")), "SEQUENCE '-1'"),
        (b"X" * (10 * 1024 * 1024 + 1), "larger than"),
    ],
)
def test_unreadable_replies_are_rejected_with_the_reason(raw: bytes, words: str) -> None:
    with pytest.raises(InvalidReplyError, match=words):
        read_reply(raw)


def test_reply_from_someone_else_cannot_change_an_answer(service: RsvpService,
                                                         repository: Any) -> None:
    forged = reply_email(reply_calendar("ann@example.org", "DECLINED"),
                         sender="mallory@example.net")
    result = service.apply_mail(forged)
    assert result.outcome is ReplyOutcome.REJECTED
    assert "not the replying attendee" in result.reason
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.NEEDS_ACTION
    assert repository.get_statistics(UID).as_dict()["rsvp"] == {"NEEDS-ACTION": 3}


@pytest.mark.parametrize("auth", ["spf=fail; dkim=pass; dmarc=pass",
                                  "spf=pass; dkim=fail; dmarc=pass",
                                  "spf=pass; dkim=pass; dmarc=fail"])
def test_failed_ses_verdict_rejects_the_reply(service: RsvpService, auth: str) -> None:
    result = service.apply_mail(reply_email(reply_calendar(), auth=auth))
    assert result.outcome is ReplyOutcome.REJECTED
    assert "verdict FAIL" in result.reason


@pytest.mark.parametrize("header", ["X-SES-Spam-Verdict", "X-SES-Virus-Verdict"])
def test_a_reply_ses_scanned_as_spam_or_a_virus_is_rejected(
    service: RsvpService, repository: Any, header: str,
) -> None:
    raw = reply_email(reply_calendar("ann@example.org", "DECLINED"))
    result = service.apply_mail(with_headers(raw, header, "FAIL"))
    assert result.outcome is ReplyOutcome.REJECTED
    assert result.reason == f"{header.split('-')[2].upper()} verdict FAIL"
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.NEEDS_ACTION
    # A PASS of its own the sender adds beside SES's FAIL changes nothing.
    forged = with_headers(raw, header, "PASS", "FAIL")
    assert service.apply_mail(forged).outcome is ReplyOutcome.REJECTED
    assert service.apply_mail(with_headers(raw, header, "PASS")).outcome is ReplyOutcome.APPLIED


def test_scan_verdicts_in_a_notification_reject_the_reply_they_carry() -> None:
    raw = reply_email(reply_calendar("ann@example.org", "DECLINED"))
    notification = {"notificationType": "Received", "mail": {},
                    "content": base64.b64encode(raw).decode("ascii"),
                    "receipt": {"action": {"type": "SNS", "encoding": "BASE64"},
                                "spamVerdict": {"status": "PASS"},
                                "virusVerdict": {"status": "FAIL"}}}
    [mail] = read_envelope(json.dumps(notification))
    assert isinstance(mail, InlineMail)
    assert mail.verdicts == Verdicts(spam="PASS", virus="FAIL")
    reply, _ = read_reply(raw)
    with pytest.raises(InvalidReplyError, match="VIRUS verdict FAIL"):
        check_trust(reply, mail.verdicts)


def test_notification_verdicts_win_over_headers() -> None:
    reply, _ = read_reply(reply_email(reply_calendar()))
    with pytest.raises(InvalidReplyError, match="DMARC verdict FAIL"):
        check_trust(reply, Verdicts(spf="PASS", dkim="PASS", dmarc="FAIL"))


def test_answers_move_status_history_and_statistics(service: RsvpService,
                                                    repository: Any) -> None:
    service.apply_mail(reply_email(reply_calendar("ann@example.org", "ACCEPTED")))
    service.apply_mail(reply_email(reply_calendar("carol@example.org", "TENTATIVE"),
                                   sender="carol@example.org"))
    ann = repository.get_attendee(UID, "ann@example.org")
    assert ann.partstat is PartStat.ACCEPTED
    assert ann.last_reply_at == T
    assert ann.history[-1].source == "-//Google Inc//Google Calendar 70.9054//EN"
    stats = repository.get_statistics(UID)
    assert stats.rsvp == {"ACCEPTED": 1, "NEEDS-ACTION": 1, "TENTATIVE": 1}
    assert repository.recount(UID).rsvp == stats.rsvp


def test_redelivered_reply_changes_nothing(service: RsvpService, repository: Any) -> None:
    raw = reply_email(reply_calendar("ann@example.org", "ACCEPTED"))
    assert service.apply_mail(raw).outcome is ReplyOutcome.APPLIED
    before = (repository.get_attendee(UID, "ann@example.org"), repository.get_statistics(UID))
    assert service.apply_mail(raw).outcome is ReplyOutcome.DUPLICATE
    after = (repository.get_attendee(UID, "ann@example.org"), repository.get_statistics(UID))
    assert after == before


def test_older_reply_is_recorded_but_does_not_change_the_status(service: RsvpService,
                                                                repository: Any) -> None:
    service.apply_mail(reply_email(reply_calendar("ann@example.org", "DECLINED",
                                                  dtstamp=T + dt.timedelta(hours=5))))
    late_old = service.apply_mail(reply_email(reply_calendar("ann@example.org", "ACCEPTED",
                                                             dtstamp=T)))
    assert late_old.outcome is ReplyOutcome.RECORDED
    ann = repository.get_attendee(UID, "ann@example.org")
    assert ann.partstat is PartStat.DECLINED
    assert [h.status for h in ann.history] == ["NEEDS-ACTION", "DECLINED", "ACCEPTED"]
    assert repository.get_statistics(UID).rsvp["DECLINED"] == 1


@pytest.mark.parametrize(
    ("calendar", "counter"),
    [
        (reply_calendar("ann@example.org", None, method="COUNTER"), "counter_proposals"),
        (reply_calendar("ann@example.org", "ACCEPTED", status="CANCELLED"), "replies_recorded"),
        (reply_calendar("ann@example.org", "NEEDS-ACTION"), "replies_recorded"),
    ],
)
def test_counter_cancelled_and_non_answers_are_recorded_and_counted_only(
    service: RsvpService, repository: Any, calendar: str, counter: str,
) -> None:
    result = service.apply_mail(reply_email(calendar))
    assert result.outcome is ReplyOutcome.RECORDED
    ann = repository.get_attendee(UID, "ann@example.org")
    assert ann.partstat is PartStat.NEEDS_ACTION
    assert len(ann.history) == 2
    assert repository.counters[UID][counter] == 1


def lifecycle(repository: Any, event_changes: dict[str, Any], *,
              action: InviteAction = InviteAction.INVITE) -> None:
    """Send ann the event's next version (as `event_changes` make it)."""
    inviter = build_service(repository=repository, mailer=InMemoryMailer(), sender=SENDER,
                            rsvp_email=RSVP_EMAIL)
    first = repository.get_event(UID).event
    report = inviter.send_invites([InviteRequest(replace(first, **event_changes),
                                                 Invitee("ann@example.org"), action)])
    assert [r.outcome.value for r in report.results] == ["sent"]


def test_a_reply_to_a_version_before_the_time_moved_is_recorded_only(
    service: RsvpService, repository: Any,
) -> None:
    first = repository.get_event(UID).event
    lifecycle(repository, {"sequence": 2, "start": first.start + dt.timedelta(hours=1),
                           "end": first.end + dt.timedelta(hours=1)})
    old = service.apply_mail(reply_email(reply_calendar("ann@example.org", "ACCEPTED",
                                                        sequence="1")))
    assert old.outcome is ReplyOutcome.RECORDED and "version 1" in old.reason
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.NEEDS_ACTION
    current = service.apply_mail(reply_email(reply_calendar(
        "ann@example.org", "DECLINED", sequence="2", dtstamp=T + dt.timedelta(minutes=1))))
    assert current.outcome is ReplyOutcome.APPLIED
    assert repository.get_statistics(UID).rsvp["DECLINED"] == 1
    assert repository.recount(UID) == repository.get_statistics(UID)


def test_a_reply_without_sequence_answers_version_0() -> None:
    reply, _ = read_reply(reply_email(reply_calendar(sequence=None)))
    assert reply.sequence == 0


@pytest.mark.parametrize("changes", [{"sequence": 1, "status": EventStatus.CANCELLED},
                                     {"sequence": 1, "action": InviteAction.REMOVE}])
def test_a_cancelled_or_removed_attendee_stays_so_whatever_they_answer(
    service: RsvpService, repository: Any, changes: dict[str, Any],
) -> None:
    changes = dict(changes)
    action = changes.pop("action", InviteAction.INVITE)
    lifecycle(repository, changes, action=action)
    result = service.apply_mail(reply_email(reply_calendar("ann@example.org", "ACCEPTED",
                                                           sequence="1")))
    assert result.outcome is ReplyOutcome.RECORDED
    ann = repository.get_attendee(UID, "ann@example.org")
    assert ann.partstat is PartStat.NEEDS_ACTION and ann.standing is not Standing.INVITED
    assert ann.history[-1].status is PartStat.ACCEPTED
    assert repository.counters[UID]["replies_recorded"] == 1


def test_reply_from_someone_never_invited_is_rejected_and_counted_in_the_mailbox(
    service: RsvpService, repository: Any,
) -> None:
    result = service.apply_mail(reply_email(reply_calendar("eve@example.net"),
                                            sender="eve@example.net"))
    assert result.outcome is ReplyOutcome.REJECTED
    assert result.reason == "not an invited attendee of this event"
    assert repository.counters["_rsvp"]["replies_rejected"] == 1
    assert "replies_rejected" not in repository.counters[UID]


def test_out_of_office_is_ignored_and_counted(service: RsvpService, repository: Any) -> None:
    assert service.apply_mail(reply_email(None)).outcome is ReplyOutcome.IGNORED
    assert repository.counters["_rsvp"]["replies_ignored"] == 1


def test_a_rejected_or_ignored_message_delivered_again_is_counted_once(
    service: RsvpService, repository: Any,
) -> None:
    forged = reply_email(reply_calendar("eve@example.net"), sender="eve@example.net")
    away = reply_email(None)
    for _ in range(3):
        assert service.apply_mail(forged).outcome is ReplyOutcome.REJECTED
        assert service.apply_mail(away).outcome is ReplyOutcome.IGNORED
    assert repository.counters["_rsvp"] == {"replies_rejected": 1, "replies_ignored": 1}
    other = reply_email(reply_calendar("mallory@example.net"), sender="mallory@example.net")
    service.apply_mail(other)
    assert repository.counters["_rsvp"]["replies_rejected"] == 2


def test_an_unreadable_notification_delivered_twice_is_counted_once(
    service: RsvpService, repository: Any,
) -> None:
    record = QueueRecord(message_id="m1", body="{not json")
    for message_id in ("m1", "m2"):
        report = service.process_batch([QueueRecord(message_id=message_id, body=record.body)])
        assert report.results[0].outcome is ReplyOutcome.REJECTED
    assert repository.counters["_rsvp"] == {"replies_rejected": 1}


def ses_notification(raw: bytes, *, dmarc: str = "PASS", s3: bool = False) -> dict[str, Any]:
    receipt: dict[str, Any] = {"spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "PASS"},
                               "dmarcVerdict": {"status": dmarc}}
    if s3:
        receipt["action"] = {"type": "S3", "bucketName": "mail", "objectKey": "in/abc"}
        return {"notificationType": "Received", "receipt": receipt, "mail": {}}
    receipt["action"] = {"type": "SNS", "encoding": "BASE64"}
    return {"notificationType": "Received", "receipt": receipt, "mail": {},
            "content": base64.b64encode(raw).decode()}


def sns(message: dict[str, Any]) -> str:
    return json.dumps({"Type": "Notification", "Message": json.dumps(message)})


def s3_event(key: str = "in/a+b%3D1") -> dict[str, Any]:
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": "mail"}, "object": {"key": key}}}]}


def test_every_delivery_shape_is_understood() -> None:
    raw = reply_email(reply_calendar())
    assert read_envelope(json.dumps(s3_event())) == [StoredMail("mail", "in/a b=1")]
    assert read_envelope(sns(s3_event())) == [StoredMail("mail", "in/a b=1")]
    inline = read_envelope(sns(ses_notification(raw, dmarc="FAIL")))
    assert inline == [InlineMail(raw, Verdicts("PASS", "PASS", "FAIL"))]
    stored = read_envelope(sns(ses_notification(raw, s3=True)))
    assert stored == [StoredMail("mail", "in/abc", Verdicts("PASS", "PASS", "PASS"))]
    assert read_envelope(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == [
        NoMail("S3 test event")]
    with pytest.raises(InvalidReplyError):
        read_envelope('{"hello": "world"}')


class FlakyStore(InMemoryMessageStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_next = 0

    def fetch(self, bucket: str, key: str) -> bytes:
        if self.fail_next:
            self.fail_next -= 1
            raise MessageStoreError("SlowDown", transient=True)
        return super().fetch(bucket, key)


def test_rsvp_handler_applies_stored_and_inline_replies_and_retries_only_passing_failures(
    repository: Any,
) -> None:
    store = FlakyStore()
    store.put("mail", "in/a b=1", reply_email(reply_calendar("ann@example.org", "ACCEPTED")))
    handler = make_rsvp_handler(lambda: RsvpRuntime(build_rsvp_service(repository=repository,
                                                                store=store)))
    bob = reply_email(reply_calendar("bob@example.net", "DECLINED"), sender="bob@example.net")
    carol = reply_email(reply_calendar("carol@example.org", "ACCEPTED"),
                        sender="carol@example.org")
    event = {"Records": [
        {"messageId": "s3", "receiptHandle": "r1", "body": json.dumps(s3_event())},
        {"messageId": "sns", "receiptHandle": "r2", "body": sns(ses_notification(bob))},
        {"messageId": "forged", "receiptHandle": "r3",
         "body": sns(ses_notification(carol, dmarc="FAIL"))},
        {"messageId": "gone", "receiptHandle": "r4",
         "body": json.dumps(s3_event("in/missing"))},
    ]}
    store.fail_next = 1
    assert handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "s3"}]}
    assert handler({"Records": event["Records"][:1]}, None) == {"batchItemFailures": []}
    assert repository.get_attendee(UID, "ann@example.org").partstat is PartStat.ACCEPTED
    assert repository.get_attendee(UID, "bob@example.net").partstat is PartStat.DECLINED
    assert repository.get_attendee(UID, "carol@example.org").partstat is PartStat.NEEDS_ACTION
    again = handler(event, None)
    assert again == {"batchItemFailures": []}
    assert repository.get_statistics(UID).rsvp == {"ACCEPTED": 1, "DECLINED": 1,
                                                   "NEEDS-ACTION": 1}
    assert repository.recount(UID) == repository.get_statistics(UID)
