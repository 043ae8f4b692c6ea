"""Roles on every repository: stored on the attendee, counted by role, equal to a recount."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from dataclasses import replace
from typing import Any

from cis.adapters.memory import InMemoryMailer
from cis.bootstrap import build_service
from cis.domain.model import InviteAction, Invitee, InviteRequest, Role
from cis.services.invites import InviteService, Outcome
from tests.support import RSVP_EMAIL, SENDER, Clock, counter_ids, sample_event

UID = "launch-2026"
ANN = Invitee("ann@example.org", name="Ann", role=Role.CHAIR)
BOB = Invitee("bob@example.org", role=Role.OPT_PARTICIPANT)
CY = Invitee("cy@example.org")


def service(repository: Any, mailer: InMemoryMailer) -> InviteService:
    return build_service(repository=repository, mailer=mailer, sender=SENDER,
                         rsvp_email=RSVP_EMAIL, clock=Clock(), new_id=counter_ids(),
                         sleep=lambda _: None)


def roles_written(mailer: InMemoryMailer, address: str) -> list[str]:
    """The ROLE of the ATTENDEE line of each message `address` was sent."""
    found = []
    for sent in mailer.sent_to(address):
        message = email.message_from_bytes(sent.data, policy=email.policy.default)
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        line = next(x for x in part.get_content().replace("\r\n ", "").splitlines()
                    if x.startswith("ATTENDEE"))
        found.append(line.split("ROLE=", 1)[1].split(";", 1)[0])
    return found


def test_each_attendee_s_role_is_stored_counted_and_recounted_alike(repository: Any) -> None:
    mailer = InMemoryMailer()
    event = sample_event(UID)
    report = service(repository, mailer).send_invites(
        InviteRequest(event, invitee) for invitee in (ANN, BOB, CY))

    assert [r.outcome for r in report.results] == [Outcome.SENT] * 3
    stored = {i.email: repository.get_attendee(UID, i.email).role for i in (ANN, BOB, CY)}
    assert stored == {ANN.email: Role.CHAIR, BOB.email: Role.OPT_PARTICIPANT,
                      CY.email: Role.REQ_PARTICIPANT}
    counted = repository.get_statistics(UID)
    assert counted.by_role == {"CHAIR": 1, "OPT-PARTICIPANT": 1, "REQ-PARTICIPANT": 1}
    assert repository.recount(UID) == counted
    assert roles_written(mailer, ANN.email) == ["CHAIR"]


def test_an_update_that_changes_a_role_moves_its_count_and_a_fan_out_keeps_it(
    repository: Any,
) -> None:
    mailer = InMemoryMailer()
    svc = service(repository, mailer)
    event = sample_event(UID)
    svc.send_invites(InviteRequest(event, invitee) for invitee in (ANN, BOB))

    update = replace(event, sequence=1)
    demoted = replace(ANN, role=Role.NON_PARTICIPANT)
    assert [r.outcome for r in svc.send_invites([InviteRequest(update, demoted)]).results] == [
        Outcome.SENT]
    assert repository.get_attendee(UID, ANN.email).role is Role.NON_PARTICIPANT
    counted = repository.get_statistics(UID)
    assert counted.by_role == {"NON-PARTICIPANT": 1, "OPT-PARTICIPANT": 1}
    assert repository.recount(UID) == counted

    # The fan-out sends each attendee the role they hold; the removal keeps it.
    assert svc.fan_out(replace(event, sequence=2, start=event.start + dt.timedelta(hours=1),
                               end=event.end + dt.timedelta(hours=1))).count(Outcome.SENT) == 2
    removal = InviteRequest(replace(event, sequence=3), Invitee(BOB.email), InviteAction.REMOVE)
    assert [r.outcome for r in svc.send_invites([removal]).results] == [Outcome.SENT]
    assert repository.get_attendee(UID, BOB.email).role is Role.OPT_PARTICIPANT
    assert roles_written(mailer, ANN.email) == ["CHAIR", "NON-PARTICIPANT", "NON-PARTICIPANT"]
    assert roles_written(mailer, BOB.email)[:2] == ["OPT-PARTICIPANT", "OPT-PARTICIPANT"]
    assert repository.recount(UID) == repository.get_statistics(UID)
