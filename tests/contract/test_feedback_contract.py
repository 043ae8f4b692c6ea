"""Delivery reports and the suppression list, the same on every repository adapter."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from cis.domain import statistics
from cis.domain.claims import claim_counters
from cis.domain.delivery import DeliveryStatus, Suppression, SuppressionReason
from cis.domain.feedback import FeedbackChange, decide_feedback, suppression_for
from cis.domain.model import (
    AttendeeKey,
    ClaimBasis,
    ClaimOutcome,
    HistoryEntry,
    InviteAction,
    InviteState,
    MarkSent,
    PartStat,
    Standing,
)
from tests.feedback import feedback
from tests.support import FROZEN_NOW, make_claim

UID = "launch-2026"
T0 = FROZEN_NOW


def invited(repository: Any, email: str, *, uid: str = UID, delivery_id: str = "ses-1") -> None:
    """Claim and settle the attendee's first invitation, as the invite flow does."""
    token = f"t-{email}-{uid}"
    assert repository.claim(make_claim(email, token, T0, uid=uid)) is ClaimOutcome.CLAIMED
    assert repository.settle([MarkSent(
        AttendeeKey.of(uid, email), token, delivery_id=delivery_id, at=T0,
        history=HistoryEntry(status=PartStat.NEEDS_ACTION, at=T0, source="cis:invite"),
        counters=statistics.on_sent(PartStat.NEEDS_ACTION, None), fence=0)]) == [True]


def change_for(repository: Any, report: Any) -> FeedbackChange:
    decision = decide_feedback(repository.get_attendee(report.event_uid, report.recipient),
                               report)
    assert decision.change is not None, decision
    return decision.change


def suppression(email: str = "ann@example.org", feedback_id: str = "fb-1") -> Suppression:
    made = suppression_for(feedback(DeliveryStatus.BOUNCED, recipient=email, permanent=True,
                                    feedback_id=feedback_id))
    assert made is not None
    return made


# --- reports on attendees ------------------------------------------------------------------


def test_a_report_is_appended_counted_and_read_back_whole(repository: Any) -> None:
    invited(repository, "Ann@Example.org")
    report = feedback(DeliveryStatus.DELIVERED, recipient="ANN@example.org")

    assert repository.apply_feedback(change_for(repository, report)) is True

    record = repository.get_attendee(UID, "ann@example.org")
    assert record.deliveries == (report.event,)
    assert record.delivery_status is DeliveryStatus.DELIVERED
    assert record.state is InviteState.SENT
    assert repository.get_statistics(UID).delivered == 1
    assert repository.get_suppression("ann@example.org") is None


def test_a_change_decided_on_reports_that_moved_on_writes_nothing(repository: Any) -> None:
    invited(repository, "ann@example.org")
    first = change_for(repository, feedback(DeliveryStatus.DELAYED, feedback_id="d1"))
    second = change_for(repository, feedback(DeliveryStatus.DELIVERED, feedback_id="d2"))
    assert repository.apply_feedback(first) is True

    assert repository.apply_feedback(second) is False

    assert len(repository.get_attendee(UID, "ann@example.org").deliveries) == 1
    assert repository.get_statistics(UID).delivered == 0


def test_a_report_for_an_attendee_never_recorded_writes_nothing(repository: Any) -> None:
    invited(repository, "ann@example.org")
    change = change_for(repository, feedback(DeliveryStatus.DELIVERED))
    elsewhere = dataclasses.replace(change, key=AttendeeKey.of(UID, "bob@example.org"))

    assert repository.apply_feedback(elsewhere) is False
    assert repository.get_attendee(UID, "bob@example.org") is None


def test_a_permanent_bounce_writes_the_report_its_count_and_the_suppression_together(
    repository: Any,
) -> None:
    invited(repository, "ann@example.org")
    report = feedback(DeliveryStatus.BOUNCED, permanent=True, detail="Permanent/General")

    assert repository.apply_feedback(change_for(repository, report)) is True

    stats = repository.get_statistics(UID)
    assert (stats.bounced, stats.delivered, stats.invites_sent) == (1, 0, 1)
    suppressed = repository.get_suppression("Ann@Example.org")
    assert suppressed == suppression_for(report)
    assert suppressed.active


def test_reports_survive_the_next_message_and_a_recount_agrees_with_their_counts(
    repository: Any,
) -> None:
    invited(repository, "ann@example.org")
    invited(repository, "bob@example.org")
    for report in (feedback(DeliveryStatus.DELIVERED),
                   feedback(DeliveryStatus.COMPLAINED, feedback_id="c1"),
                   feedback(DeliveryStatus.DELIVERED, recipient="bob@example.org"),
                   feedback(DeliveryStatus.DELAYED, recipient="bob@example.org", feedback_id="d")):
        assert repository.apply_feedback(change_for(repository, report)) is True
    # An update to Bob: claimed on what was read, then settled with a new delivery id.
    seen = repository.get_attendee(UID, "bob@example.org")
    claim = dataclasses.replace(
        make_claim("bob@example.org", "update", T0 + dt.timedelta(hours=1)), sequence=1,
        action=InviteAction.INVITE, basis=ClaimBasis(seen))
    claim = dataclasses.replace(claim, counters=claim_counters(seen, claim))
    assert repository.claim(claim).granted
    repository.settle([MarkSent(claim.key, "update", delivery_id="ses-2", at=claim.now,
                                history=HistoryEntry(status=Standing.INVITED.method,
                                                     at=claim.now, source="cis:update"),
                                counters=statistics.on_later_message(
                                    InviteAction.INVITE, Standing.INVITED),
                                sequence=1)])

    bob = repository.get_attendee(UID, "bob@example.org")
    assert [event.status for event in bob.deliveries] == [DeliveryStatus.DELIVERED,
                                                          DeliveryStatus.DELAYED]
    assert bob.delivery_status is None  # nothing reported yet about the update
    counted = repository.get_statistics(UID)
    assert (counted.delivered, counted.complained) == (2, 1)
    assert repository.recount(UID) == counted


# --- the suppression list --------------------------------------------------------------------


def test_a_claim_on_a_suppressed_address_is_refused_for_any_event_and_writes_nothing(
    repository: Any,
) -> None:
    assert repository.suppress(suppression("ann@example.org")) is True

    assert repository.claim(make_claim("ANN@example.org", "t1", T0)) is (
        ClaimOutcome.SUPPRESSED)
    assert repository.claim(make_claim("ann@example.org", "t2", T0, uid="other-event")) is (
        ClaimOutcome.SUPPRESSED)

    assert repository.get_attendee(UID, "ann@example.org") is None
    assert repository.claim(make_claim("bob@example.org", "t3", T0)) is ClaimOutcome.CLAIMED


def test_a_claim_carried_with_settlements_is_refused_alone_and_they_are_written(
    repository: Any,
) -> None:
    repository.claim(make_claim("bob@example.org", "t1", T0))
    repository.suppress(suppression("ann@example.org"))
    settlement = MarkSent(AttendeeKey.of(UID, "bob@example.org"), "t1", delivery_id="ses-1",
                          at=T0, history=HistoryEntry(PartStat.NEEDS_ACTION, T0, "cis:invite"),
                          counters=statistics.on_sent(PartStat.NEEDS_ACTION, None))

    applied, outcome = repository.settle_then_claim(
        [settlement], make_claim("ann@example.org", "t2", T0))

    assert (list(applied), outcome) == ([True], ClaimOutcome.SUPPRESSED)
    assert repository.get_attendee(UID, "bob@example.org").state is InviteState.SENT
    assert repository.get_attendee(UID, "ann@example.org") is None
    assert repository.get_statistics(UID).invites_sent == 1


def test_an_update_to_a_suppressed_attendee_is_refused_too(repository: Any) -> None:
    invited(repository, "ann@example.org")
    repository.suppress(suppression("ann@example.org"))
    seen = repository.get_attendee(UID, "ann@example.org")
    update = dataclasses.replace(make_claim("ann@example.org", "u1", T0), sequence=1,
                                 basis=ClaimBasis(seen))

    assert repository.claim(update) is ClaimOutcome.SUPPRESSED
    assert repository.get_attendee(UID, "ann@example.org").state is InviteState.SENT


def test_a_claim_that_would_not_be_granted_says_why_rather_than_suppressed(
    repository: Any,
) -> None:
    invited(repository, "ann@example.org")
    repository.suppress(suppression("ann@example.org"))

    assert repository.claim(make_claim("ann@example.org", "again", T0)) is (
        ClaimOutcome.ALREADY_SENT)


def test_a_lifted_address_is_claimed_again_and_the_same_report_does_not_put_it_back(
    repository: Any,
) -> None:
    bounce = suppression("ann@example.org")
    repository.suppress(bounce)
    later = T0 + dt.timedelta(days=1)

    lifted = repository.lift_suppression("Ann@Example.org", at=later)

    assert lifted == dataclasses.replace(bounce, lifted_at=later)
    assert repository.lift_suppression("ann@example.org", at=later) is None
    assert repository.suppress(bounce) is False  # the same report, redelivered
    assert repository.claim(make_claim("ann@example.org", "t1", T0)) is ClaimOutcome.CLAIMED
    assert repository.suppress(suppression("ann@example.org", feedback_id="fb-2")) is True
    assert repository.get_suppression("ann@example.org").active


def test_lifting_an_address_never_suppressed_changes_nothing(repository: Any) -> None:
    assert repository.lift_suppression("nobody@example.org", at=T0) is None
    assert repository.get_suppression("nobody@example.org") is None


def test_the_list_pages_by_address_and_shows_lifted_ones_only_when_asked(
    repository: Any,
) -> None:
    addresses = [f"guest{n:02d}@example.org" for n in range(25)]
    for address in reversed(addresses):
        repository.suppress(suppression(address))
    repository.lift_suppression("guest03@example.org", at=T0)
    active = [address for address in addresses if address != "guest03@example.org"]

    pages: list[list[str]] = []
    after = None
    while True:
        page = [s.address for s in repository.suppressions(after=after, limit=10)]
        pages.append(page)
        if len(page) < 10:
            break
        after = page[-1]

    assert [address for page in pages for address in page] == active
    assert [len(page) for page in pages] == [10, 10, 4]
    everything = repository.suppressions(limit=100, include_lifted=True)
    assert [s.address for s in everything] == addresses
    assert everything[3].lifted_at == T0
    assert {s.reason for s in everything} == {SuppressionReason.BOUNCE}
