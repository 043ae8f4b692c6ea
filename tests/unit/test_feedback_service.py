"""The feedback flow on in-memory adapters: SES reports written once, bounces suppressed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_feedback_service, build_service
from cis.domain.delivery import DeliveryStatus
from cis.domain.feedback import FeedbackChange, FeedbackOutcome
from cis.domain.model import Event, EventStatus, FanOut, InviteAction, Invitee, InviteRequest
from cis.errors import RepositoryError
from cis.ports.queue import QueueRecord
from cis.services.claim_steps import SUPPRESSED_REASON
from cis.services.feedback import APPLY_ATTEMPTS, FeedbackService
from cis.services.invites import InviteService, Outcome
from tests.feedback import fixture_text, in_sns, report
from tests.support import RSVP_EMAIL, SENDER, Clock, counter_ids, sample_event

UID = "launch-2026"


class Deployment:
    """An invite service and a feedback service sharing one in-memory store, as deployed."""

    def __init__(self, store: InMemoryInviteRepository | None = None) -> None:
        self.store = store or InMemoryInviteRepository()
        self.mailer = InMemoryMailer()
        self.invites: InviteService = build_service(
            repository=self.store, mailer=self.mailer, sender=SENDER, rsvp_email=RSVP_EMAIL,
            clock=Clock(), new_id=counter_ids(), sleep=lambda _: None)
        self.feedback: FeedbackService = build_feedback_service(store=self.store)

    def invite(self, event: Event, *emails: str) -> list[Outcome]:
        report = self.invites.send_invites(InviteRequest(event, Invitee(e)) for e in emails)
        return [result.outcome for result in report.results]

    def delivery_id(self, email: str, uid: str = UID) -> str:
        record = self.store.get_attendee(uid, email)
        assert record is not None and record.delivery_id is not None
        return record.delivery_id

    def report(self, name: str, email: str, uid: str | None = UID, **changes: Any) -> str:
        return in_sns(report(name, message_id=self.delivery_id(email, uid or UID),
                             recipient=email, event_uid=uid, **changes))

    def deliver(self, *bodies: str) -> dict[str, Any]:
        batch = [QueueRecord(message_id=f"f{n}", body=body, receipt=f"r{n}")
                 for n, body in enumerate(bodies, 1)]
        return self.feedback.process_batch(batch).batch_item_failures()


def test_a_bounce_marks_the_attendee_counts_it_and_suppresses_the_address() -> None:
    deployment = Deployment()
    deployment.invite(sample_event(), "Ann@Example.org", "bob@example.org")

    failures = deployment.deliver(deployment.report("event-bounce", "Ann@Example.org"),
                                  deployment.report("event-delivery", "bob@example.org"))

    assert failures == {"batchItemFailures": []}
    ann = deployment.store.get_attendee(UID, "ann@example.org")
    assert ann is not None and ann.delivery_status is DeliveryStatus.BOUNCED
    assert ann.deliveries[0].detail == "Permanent/General"
    stats = deployment.store.get_statistics(UID)
    assert (stats.invites_sent, stats.delivered, stats.bounced) == (2, 1, 1)
    suppression = deployment.store.get_suppression("ann@example.org")
    assert suppression is not None and suppression.event_uid == UID
    assert deployment.store.get_suppression("bob@example.org") is None
    assert deployment.store.recount(UID) == stats


def test_a_redelivered_report_changes_nothing() -> None:
    deployment = Deployment()
    deployment.invite(sample_event(), "ann@example.org")
    bounce = deployment.report("event-bounce", "ann@example.org")
    deployment.deliver(bounce)
    before = deployment.store.get_statistics(UID)

    results = deployment.feedback.process_body(bounce)

    assert [r.outcome for r in results] == [FeedbackOutcome.DUPLICATE]
    assert deployment.store.get_statistics(UID) == before
    record = deployment.store.get_attendee(UID, "ann@example.org")
    assert record is not None and len(record.deliveries) == 1


def test_every_later_message_to_a_suppressed_address_is_not_sent_and_is_counted() -> None:
    deployment = Deployment()
    event = sample_event()
    deployment.invite(event, "ann@example.org", "bob@example.org")
    deployment.deliver(deployment.report("event-complaint", "ann@example.org"))
    sent_before = len(deployment.mailer.sent)
    other = sample_event(uid="offsite-2027")
    update = dataclasses.replace(event, sequence=1, summary="Product launch (moved)")
    cancel = dataclasses.replace(event, sequence=2, status=EventStatus.CANCELLED)

    another_event = deployment.invite(other, "ANN@example.org")
    fan_out = deployment.invites.process_messages([FanOut(update)])
    removal = deployment.invites.send_invites(
        [InviteRequest(cancel, Invitee("ann@example.org"), InviteAction.REMOVE)])

    assert another_event == [Outcome.SUPPRESSED]
    assert [r.outcome for r in fan_out.results] == [Outcome.EXPANDED]
    assert [r.outcome for r in removal.results] == [Outcome.SUPPRESSED]
    assert removal.results[0].reason == SUPPRESSED_REASON
    assert [m.recipient for m in deployment.mailer.sent[sent_before:]] == ["bob@example.org"]
    assert deployment.store.get_statistics("offsite-2027").suppressed == 1
    stats = deployment.store.get_statistics(UID)
    assert (stats.suppressed, stats.complained, stats.updates_sent) == (2, 1, 1)
    assert deployment.store.get_attendee("offsite-2027", "ann@example.org") is None
    assert deployment.store.recount(UID) == stats


def test_a_lifted_address_is_invited_again() -> None:
    deployment = Deployment()
    deployment.invite(sample_event(), "ann@example.org")
    deployment.deliver(deployment.report("event-bounce", "ann@example.org"))
    other = sample_event(uid="offsite-2027")
    assert deployment.invite(other, "ann@example.org") == [Outcome.SUPPRESSED]

    deployment.store.lift_suppression("ann@example.org", at=dt.datetime.now(dt.UTC))

    assert deployment.invite(other, "ann@example.org") == [Outcome.SENT]


def test_a_transient_bounce_suppresses_nothing() -> None:
    deployment = Deployment()
    deployment.invite(sample_event(), "ann@example.org")
    body = json.loads(json.loads(deployment.report("event-bounce", "ann@example.org"))["Message"])
    body["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")

    assert deployment.deliver(json.dumps(body)) == {"batchItemFailures": []}

    assert deployment.store.get_suppression("ann@example.org") is None
    assert deployment.store.get_statistics(UID).bounced == 1


def test_an_identity_notification_without_tags_still_suppresses_every_recipient() -> None:
    deployment = Deployment()

    results = deployment.feedback.process_body(
        in_sns(fixture_text("notification-bounce-without-dsn")))

    assert [(r.outcome, r.address) for r in results] == [
        (FeedbackOutcome.UNMATCHED, "jane@example.com"),
        (FeedbackOutcome.UNMATCHED, "richard@example.com")]
    assert all("no cis-event tag" in r.reason for r in results)
    assert deployment.invite(sample_event(), "jane@example.com", "mary@example.com") == [
        Outcome.SUPPRESSED, Outcome.SENT]


def test_a_body_that_is_no_report_is_refused_once_and_never_handed_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployment = Deployment()
    caplog.set_level(logging.INFO, logger="cis")

    failures = deployment.deliver("{not json", json.dumps({"eventType": "Bounce"}))

    assert failures == {"batchItemFailures": []}
    refusals = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.flow, r.outcome) for r in refusals] == [  # type: ignore[attr-defined]
        ("feedback", "rejected")] * 2
    assert "not JSON" in refusals[0].reason  # type: ignore[attr-defined]
    assert "mail: missing" in refusals[1].reason  # type: ignore[attr-defined]


def test_reports_cis_does_not_act_on_are_acknowledged_and_counted_in_the_batch_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deployment = Deployment()
    caplog.set_level(logging.INFO, logger="cis")

    failures = deployment.deliver(*(in_sns(fixture_text(name)) for name in (
        "event-open", "event-open", "event-click", "event-send")))

    assert failures == {"batchItemFailures": []}
    [batch] = [r.feedback_batch for r in caplog.records  # type: ignore[attr-defined]
               if hasattr(r, "feedback_batch")]
    assert batch["ignored"] == 4
    assert batch["ignored_types"] == {"Click": 1, "Open": 2, "Send": 1}


class FlakyStore(InMemoryInviteRepository):
    """Fails `apply_feedback` a given number of times, in a given way."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Exception | None] = []

    def apply_feedback(self, change: FeedbackChange) -> bool:
        if self.failures:
            failure = self.failures.pop(0)
            if failure is None:
                return False  # as if another report landed first
            raise failure
        return super().apply_feedback(change)


def test_a_passing_store_failure_hands_the_message_back_and_its_redelivery_applies_once() -> None:
    store = FlakyStore()
    deployment = Deployment(store)
    deployment.invite(sample_event(), "ann@example.org")
    bounce = deployment.report("event-bounce", "ann@example.org")
    store.failures = [RepositoryError("throttled", transient=True)]

    assert deployment.deliver(bounce) == {"batchItemFailures": [{"itemIdentifier": "f1"}]}
    assert deployment.store.get_suppression("ann@example.org") is None

    assert deployment.deliver(bounce) == {"batchItemFailures": []}
    assert deployment.deliver(bounce) == {"batchItemFailures": []}
    assert deployment.store.get_statistics(UID).bounced == 1


def test_a_report_that_lost_a_race_is_decided_again_on_what_is_stored() -> None:
    store = FlakyStore()
    deployment = Deployment(store)
    deployment.invite(sample_event(), "ann@example.org")
    store.failures = [None] * (APPLY_ATTEMPTS - 1)

    [result] = deployment.feedback.process_body(
        deployment.report("event-delivery", "ann@example.org"))
    assert result.outcome is FeedbackOutcome.APPLIED

    store.failures = [None] * APPLY_ATTEMPTS
    [gave_up] = deployment.feedback.process_body(
        deployment.report("event-delivery", "ann@example.org", timestamp="2026-11-28T10:00:00Z"))
    assert gave_up.outcome is FeedbackOutcome.RETRY


def test_an_unexpected_error_is_retried_at_the_one_boundary() -> None:
    store = FlakyStore()
    deployment = Deployment(store)
    deployment.invite(sample_event(), "ann@example.org")
    store.failures = [ValueError("a bug")]

    failures = deployment.deliver(deployment.report("event-delivery", "ann@example.org"))

    assert failures == {"batchItemFailures": [{"itemIdentifier": "f1"}]}
