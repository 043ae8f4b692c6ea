"""The delivery feedback rules: what a report changes, what it counts, which ones suppress."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cis.domain import statistics
from cis.domain.delivery import DeliveryStatus, SuppressionReason
from cis.domain.feedback import (
    MAX_DELIVERY_EVENTS,
    FeedbackOutcome,
    decide_feedback,
    feedback_applies,
    lifted,
    suppression_applies,
    suppression_for,
    with_delivery,
)
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    InviteState,
    PartStat,
    Standing,
)
from cis.domain.statistics import EventStatistics
from tests.feedback import feedback

T0 = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


def sent_record(email: str = "Ann@Example.org", delivery_id: str = "ses-1") -> AttendeeRecord:
    return AttendeeRecord(
        key=AttendeeKey.of("launch-2026", email), email=email, name=None,
        partstat=PartStat.NEEDS_ACTION, origin=None, state=InviteState.SENT, sent_at=T0,
        delivery_id=delivery_id, sequence=0, standing=Standing.INVITED)


def applied(record: AttendeeRecord, *reports: object) -> AttendeeRecord:
    for report in reports:
        decision = decide_feedback(record, report)  # type: ignore[arg-type]
        assert decision.change is not None, decision
        record = with_delivery(record, decision.change)
    return record


def test_a_delivery_is_appended_and_counts_the_attendee_delivered() -> None:
    decision = decide_feedback(sent_record(), feedback(DeliveryStatus.DELIVERED))

    assert decision.outcome is FeedbackOutcome.APPLIED
    assert decision.change is not None
    assert decision.change.counters == {statistics.DELIVERED: 1}
    assert decision.change.expected_deliveries == 0
    assert decision.change.suppression is None
    assert decision.change.key == AttendeeKey("launch-2026", "ann@example.org")


def test_the_same_report_delivered_again_changes_nothing() -> None:
    report = feedback(DeliveryStatus.DELIVERED)
    record = applied(sent_record(), report)

    decision = decide_feedback(record, report)

    assert decision.outcome is FeedbackOutcome.DUPLICATE
    assert decision.change is None and decision.suppression is None


def test_an_attendee_counts_once_per_kind_however_many_reports_of_it_arrive() -> None:
    record = applied(sent_record(), feedback(DeliveryStatus.DELIVERED, feedback_id="d1"))

    update_delivered = decide_feedback(record, feedback(
        DeliveryStatus.DELIVERED, delivery_id="ses-2", feedback_id="d2"))

    assert update_delivered.change is not None
    assert update_delivered.change.counters == {}


@pytest.mark.parametrize("status", [DeliveryStatus.DELAYED, DeliveryStatus.REJECTED])
def test_delays_and_rejections_are_recorded_but_counted_nowhere(status: DeliveryStatus) -> None:
    decision = decide_feedback(sent_record(), feedback(status))

    assert decision.outcome is FeedbackOutcome.APPLIED
    assert decision.change is not None and decision.change.counters == {}
    assert decision.change.suppression is None


def test_a_permanent_bounce_is_counted_and_suppresses_the_address_in_the_same_change() -> None:
    decision = decide_feedback(sent_record(), feedback(
        DeliveryStatus.BOUNCED, permanent=True, detail="Permanent/General"))

    assert decision.change is not None
    assert decision.change.counters == {statistics.BOUNCED: 1}
    suppression = decision.change.suppression
    assert suppression is not None
    assert (suppression.address, suppression.reason) == ("ann@example.org",
                                                          SuppressionReason.BOUNCE)
    assert suppression.detail == "Permanent/General; smtp; 550 5.1.1 user unknown"
    assert (suppression.event_uid, suppression.delivery_id) == ("launch-2026", "ses-1")
    assert "suppresses" in decision.reason


def test_a_transient_bounce_is_counted_but_suppresses_nothing() -> None:
    report = feedback(DeliveryStatus.BOUNCED, permanent=False, detail="Transient/MailboxFull")

    assert suppression_for(report) is None
    decision = decide_feedback(sent_record(), report)
    assert decision.change is not None and decision.change.suppression is None


def test_a_complaint_suppresses_the_address() -> None:
    suppression = suppression_for(feedback(DeliveryStatus.COMPLAINED, detail="abuse"))

    assert suppression is not None
    assert suppression.reason is SuppressionReason.COMPLAINT
    assert suppression.detail == "abuse"


def test_a_report_with_no_attendee_to_write_on_still_suppresses() -> None:
    unknown = decide_feedback(None, feedback(DeliveryStatus.BOUNCED, permanent=True))
    untagged = decide_feedback(None, feedback(DeliveryStatus.COMPLAINED, event_uid=None))
    delivered = decide_feedback(None, feedback(DeliveryStatus.DELIVERED, event_uid=None))

    assert unknown.outcome is FeedbackOutcome.UNMATCHED
    assert unknown.suppression is not None and unknown.change is None
    assert "no attendee ann@example.org of launch-2026" in unknown.reason
    assert untagged.suppression is not None
    assert "no cis-event tag" in untagged.reason
    assert (delivered.outcome, delivered.suppression) == (FeedbackOutcome.UNMATCHED, None)


def test_a_full_report_history_is_left_alone_but_the_address_is_still_suppressed() -> None:
    record = applied(sent_record(), *(
        feedback(DeliveryStatus.DELAYED, feedback_id=f"delay-{n}")
        for n in range(MAX_DELIVERY_EVENTS)))

    decision = decide_feedback(record, feedback(DeliveryStatus.BOUNCED, permanent=True))

    assert decision.outcome is FeedbackOutcome.UNMATCHED
    assert decision.change is None
    assert decision.suppression is not None


def test_a_change_applies_only_to_the_reports_it_was_decided_on() -> None:
    record = sent_record()
    decision = decide_feedback(record, feedback(DeliveryStatus.DELIVERED))
    assert decision.change is not None

    assert feedback_applies(record, decision.change)
    moved_on = with_delivery(record, decision.change)
    assert not feedback_applies(moved_on, decision.change)
    assert not feedback_applies(None, decision.change)


def test_the_delivery_status_is_the_latest_report_about_the_last_message_sent() -> None:
    later = T0 + dt.timedelta(minutes=5)
    record = applied(
        sent_record(delivery_id="ses-2"),
        feedback(DeliveryStatus.BOUNCED, delivery_id="ses-1", feedback_id="old"),
        feedback(DeliveryStatus.DELIVERED, delivery_id="ses-2", feedback_id="d", at=later),
        # A delay SES dated before the delivery, arriving after it.
        feedback(DeliveryStatus.DELAYED, delivery_id="ses-2", feedback_id="late", at=T0),
    )

    assert record.delivery_status is DeliveryStatus.DELIVERED
    assert sent_record().delivery_status is None


def test_a_recount_agrees_with_the_counts_reports_added() -> None:
    records = [
        applied(sent_record("a@example.org"), feedback(DeliveryStatus.DELIVERED),
                feedback(DeliveryStatus.COMPLAINED, feedback_id="c")),
        applied(sent_record("b@example.org"), feedback(DeliveryStatus.BOUNCED, permanent=True),
                feedback(DeliveryStatus.BOUNCED, feedback_id="again", delivery_id="ses-2")),
        applied(sent_record("c@example.org"), feedback(DeliveryStatus.DELAYED)),
    ]
    counted = statistics.merge(*(
        statistics.on_delivery_event(record.deliveries[:n], record.deliveries[n])
        for record in records for n in range(len(record.deliveries))))

    rebuilt = statistics.recount(records, {statistics.SUPPRESSED: 2})

    assert counted == {"delivered": 1, "complained": 1, "bounced": 1}
    assert {name: rebuilt[name] for name in counted} == counted
    assert rebuilt[statistics.SUPPRESSED] == 2  # requests, not records: kept as stored


def test_statistics_show_delivery_counts_and_suppressed_requests() -> None:
    stats = EventStatistics.from_counters("launch-2026", {
        "delivered": 3, "bounced": 1, "complained": 1, "suppressed": 2})

    shown = stats.as_dict()

    assert {name: shown[name] for name in ("delivered", "bounced", "complained",
                                          "suppressed")} == {
        "delivered": 3, "bounced": 1, "complained": 1, "suppressed": 2}


def test_a_redelivered_report_does_not_put_back_a_lifted_suppression_but_a_new_one_does() -> None:
    first = suppression_for(feedback(DeliveryStatus.BOUNCED, permanent=True))
    assert first is not None
    now_lifted = lifted(first, T0 + dt.timedelta(days=1))
    assert now_lifted is not None and not now_lifted.active

    assert not suppression_applies(now_lifted, first)
    assert suppression_applies(now_lifted, dataclasses.replace(first, feedback_id="fb-2"))
    assert suppression_applies(None, first)
    assert lifted(now_lifted, T0) is None
    assert lifted(None, T0) is None
