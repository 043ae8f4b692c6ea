"""Stopping a run between records: the record in hand is finished and recorded, none is held."""

from __future__ import annotations

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.domain.model import Invitee, InviteRequest, InviteState
from cis.ports.mailer import RawEmail
from cis.services.invites import Outcome
from tests.support import RSVP_EMAIL, SENDER, Clock, counter_ids, sample_event

UID = "launch-2026"
STOP = "not started: SIGINT received"


class StopAskedDuringSend(InMemoryMailer):
    """Accepts every message; the stop is asked for while the `at`th one is being sent."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.stop: str | None = None

    def send(self, email: RawEmail) -> str:
        if len(self.sent) + 1 == self.at:
            self.stop = STOP
        return super().send(email)


def test_a_stop_asked_during_a_send_finishes_it_and_hands_back_the_rest_unclaimed() -> None:
    repository = InMemoryInviteRepository()
    mailer = StopAskedDuringSend(at=2)
    service = build_service(repository=repository, mailer=mailer, sender=SENDER,
                            rsvp_email=RSVP_EMAIL, clock=Clock(), new_id=counter_ids("s"),
                            stop_requested=lambda: mailer.stop)
    event = sample_event(UID)
    addresses = [f"guest{n}@example.org" for n in range(5)]

    report = service.send_invites(InviteRequest(event, Invitee(a)) for a in addresses)

    assert [r.outcome for r in report.results] == [Outcome.SENT] * 2 + [Outcome.RETRY] * 3
    assert {r.reason for r in report.results[2:]} == {STOP}
    assert [e.recipient for e in mailer.sent] == addresses[:2]
    for address in addresses[:2]:
        record = repository.get_attendee(UID, address)
        assert record is not None and record.state is InviteState.SENT
    # Handed back untouched: nothing claimed, so a run started at once sends them.
    assert [repository.get_attendee(UID, a) for a in addresses[2:]] == [None] * 3
    assert repository.get_statistics(UID).invites_sent == 2
