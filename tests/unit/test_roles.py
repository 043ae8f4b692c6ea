"""An attendee's role: read from `request.role`, written in the ATTENDEE line, stored, counted."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import vobject

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.cli.inputs import attendee_row
from cis.domain import statistics
from cis.domain.claims import claim_counters, claimed_record
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    InviteAction,
    Invitee,
    InviteRequest,
    InviteState,
    PartStat,
    Role,
    Standing,
)
from cis.domain.rendering.ical import render_calendar
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.errors import InvalidRequestError
from cis.messages.invite_format import encode_request, parse_body, parse_message
from tests.support import (
    FROZEN_NOW,
    RSVP_EMAIL,
    SENDER,
    Clock,
    counter_ids,
    event_json,
    make_claim,
    sample_event,
)


def request_body(**request: Any) -> str:
    return json.dumps({"request": {"uid": "launch-2026", "email": "ann@example.org", **request},
                       "event": event_json()})


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_read_from_the_request_and_written_in_the_attendee_line(role: Role) -> None:
    request = parse_body(request_body(role=str(role)))
    assert request.invitee.role is role
    calendar = vobject.readOne(render_calendar(
        request.event, request.invitee, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW).decode())
    assert calendar.vevent.attendee.params["ROLE"] == [str(role)]


def test_a_request_without_a_role_is_a_required_participant_as_before() -> None:
    request = parse_body(request_body())
    assert request.invitee.role is Role.REQ_PARTICIPANT
    assert "ROLE=REQ-PARTICIPANT" in render_calendar(
        request.event, request.invitee, rsvp_email=RSVP_EMAIL,
        dtstamp=FROZEN_NOW).decode().replace("\r\n ", "")


@pytest.mark.parametrize("role", ["chair", "OPTIONAL", "", 1, None])
def test_a_role_not_in_the_list_is_refused_naming_the_field(role: object) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(request_body(role=role))
    assert (caught.value.field, caught.value.reason) == (
        "request.role",
        "must be one of REQ-PARTICIPANT, OPT-PARTICIPANT, NON-PARTICIPANT, CHAIR")


def test_a_resend_takes_no_role() -> None:
    body = json.dumps({"request": {"uid": "launch-2026", "email": "ann@example.org",
                                   "action": "resend", "role": "CHAIR"}})
    with pytest.raises(InvalidRequestError) as caught:
        parse_message(body)
    assert caught.value.field == "request.role"
    assert caught.value.reason.startswith("is not a field of a resend")


def test_a_role_is_encoded_only_when_it_is_not_the_default() -> None:
    plain = parse_body(request_body())
    chair = parse_body(request_body(role="CHAIR"))
    assert "role" not in json.loads(encode_request(plain))["request"]
    assert json.loads(encode_request(chair))["request"]["role"] == "CHAIR"
    assert parse_body(encode_request(chair)) == chair


@pytest.mark.parametrize("standing", list(Standing))
def test_the_template_writes_each_attendee_s_own_role(standing: Standing) -> None:
    event = sample_event(sequence=2)
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    for number, role in enumerate(Role):
        invitee = Invitee(f"a{number}@example.org", name="A", role=role)
        expected = compose_invitation(event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                      now=FROZEN_NOW, email_id=f"m{number}", standing=standing)
        assert template.render(invitee, now=FROZEN_NOW, email_id=f"m{number}") == expected
    assert template.fallbacks == 0


def test_a_csv_row_may_name_a_role() -> None:
    row = attendee_row(2, {"email": "ann@example.org", "role": "OPT-PARTICIPANT"}, "launch-2026")
    assert row.invitee is not None and row.invitee.role is Role.OPT_PARTICIPANT
    bad = attendee_row(3, {"email": "bob@example.org", "role": "boss"}, "launch-2026")
    assert bad.problem == ("role 'boss': must be one of REQ-PARTICIPANT, OPT-PARTICIPANT, "
                           "NON-PARTICIPANT, CHAIR")


# The domain: which role a claim leaves, and what it moves in the statistics.


def invited_record(role: Role) -> AttendeeRecord:
    return AttendeeRecord(
        key=AttendeeKey.of("launch-2026", "ann@example.org"), email="ann@example.org",
        name=None, partstat=PartStat.NEEDS_ACTION, origin=None, state=InviteState.SENT,
        sequence=0, standing=Standing.INVITED, role=role)


def test_an_update_that_gives_another_role_moves_the_attendee_between_role_counters() -> None:
    claim = replace(make_claim("ann@example.org", "t", FROZEN_NOW), sequence=1)
    claim = replace(claim, invitee=replace(claim.invitee, role=Role.CHAIR))
    existing = invited_record(Role.REQ_PARTICIPANT)
    assert claimed_record(existing, claim).role is Role.CHAIR
    assert claim_counters(existing, claim) == {"role:REQ-PARTICIPANT": -1, "role:CHAIR": 1}


@pytest.mark.parametrize(("action", "standing"), [
    (InviteAction.REMOVE, Standing.REMOVED), (InviteAction.INVITE, Standing.CANCELLED),
    (InviteAction.RESEND, Standing.INVITED)])
def test_a_removal_cancellation_or_resend_keeps_the_role_the_attendee_was_invited_in(
    action: InviteAction, standing: Standing,
) -> None:
    claim = replace(make_claim("ann@example.org", "t", FROZEN_NOW), sequence=1, action=action,
                    standing=standing)
    existing = invited_record(Role.CHAIR)
    assert claimed_record(existing, claim).role is Role.CHAIR
    assert claim_counters(existing, claim) == {}


def test_statistics_count_invitations_by_role_and_a_recount_agrees() -> None:
    repository = InMemoryInviteRepository()
    service = build_service(repository=repository, mailer=InMemoryMailer(), sender=SENDER,
                            rsvp_email=RSVP_EMAIL, clock=Clock(), new_id=counter_ids())
    event = sample_event()
    service.send_invites([
        InviteRequest(event, Invitee("ann@example.org", role=Role.CHAIR)),
        InviteRequest(event, Invitee("bob@example.org", role=Role.OPT_PARTICIPANT)),
        InviteRequest(event, Invitee("cy@example.org")),
    ])
    counted = repository.get_statistics(event.uid)
    assert counted.by_role == {"CHAIR": 1, "OPT-PARTICIPANT": 1, "REQ-PARTICIPANT": 1}
    assert counted.as_dict()["by_role"] == counted.by_role
    assert repository.recount(event.uid) == counted
    stored = repository.get_attendee(event.uid, "ann@example.org")
    assert stored is not None and stored.role is Role.CHAIR
    assert statistics.role_counter(Role.CHAIR) == "role:CHAIR"
