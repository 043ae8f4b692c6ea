"""An invitation's life through the Lambda handler on a moto server: fan-outs and resends.

A fan-out body on the queue is expanded by the function onto its own queue (SQS_URL), the
per-attendee messages are consumed like any others, and each attendee gets each version once.
Messages SES accepted are read back with vobject, a parser independent of the writer.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import vobject

from cis.adapters.sqs import SqsInviteQueue
from cis.domain.model import EventStatus, FanOut, Resend, Standing
from cis.services import fan_out as fan_out_module
from cis.services.producer import enqueue_messages
from tests.e2e.test_lambda_on_moto import (
    DISTINCT,
    Stack,
    _parse,
    _to_address,
    enqueue,
    lambda_event,
    receive,
    stack,
)

__all__ = ["stack"]  # the fixture, shared with the handler's own tests


class Context:
    """A Lambda context whose remaining time drops by `step` seconds at each look."""

    def __init__(self, seconds: float, step: float = 0.0) -> None:
        self.seconds, self.step = seconds, step

    def get_remaining_time_in_millis(self) -> int:
        left = self.seconds
        self.seconds -= self.step
        return int(left * 1000)


def calendars_to(stack: Stack, address: str) -> list[Any]:
    """The calendars SES accepted for `address`, in the order they were sent."""
    found = []
    for message in stack.sent():
        parsed = _parse(message.raw_data)
        if _to_address(parsed) == address:
            part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
            found.append(vobject.readOne(part.get_content()))
    return found


def put(stack: Stack, *messages: Any) -> None:
    queue = SqsInviteQueue(queue_url=stack.queue_url, client=stack.sqs)
    enqueue_messages(queue, messages)


def drain(stack: Stack, expected: int, context: Any = None) -> dict[str, Any]:
    """Hand `expected` messages from the queue to a fresh handler, in one batch."""
    return stack.handler()(lambda_event(stack, receive(stack, expected)), context)


@pytest.fixture
def invited(stack: Stack) -> Stack:
    count = enqueue(stack)
    assert drain(stack, count) == {"batchItemFailures": []}
    assert set(stack.sent_to()) == DISTINCT
    return stack


def test_a_fan_out_body_is_expanded_onto_the_queue_and_each_attendee_updated_once(
    invited: Stack,
) -> None:
    stack = invited
    moved = replace(stack.event, sequence=1, location="Room 5",
                    start=stack.event.start.replace(hour=15),
                    end=stack.event.end.replace(hour=16))
    put(stack, FanOut(moved))
    assert drain(stack, 1) == {"batchItemFailures": []}

    relayed = receive(stack, len(DISTINCT))
    assert {json.loads(m["Body"])["event"]["sequence"] for m in relayed} == {1}
    # Delivered twice, as SQS may: the second delivery sends nothing.
    for _ in range(2):
        assert stack.handler()(lambda_event(stack, relayed), None) == {"batchItemFailures": []}

    for address in DISTINCT:
        invitation, update = calendars_to(stack, address)
        assert (invitation.method.value, invitation.vevent.sequence.value) == ("REQUEST", "0")
        assert (update.method.value, update.vevent.sequence.value) == ("REQUEST", "1")
        assert update.vevent.uid.value == stack.event.uid
        assert update.vevent.location.value == "Room 5"
    stats = stack.repository.get_statistics(stack.event.uid)
    assert (stats.invites_sent, stats.updates_sent) == (len(DISTINCT), len(DISTINCT))
    assert stats.duplicates_skipped == 1 + len(DISTINCT)  # the CSV's repeat, the redelivery
    assert stack.repository.recount(stack.event.uid) == stats


def test_a_fan_out_short_of_time_goes_on_in_a_new_message_and_cancels_everyone_once(
    invited: Stack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = invited
    monkeypatch.setattr(fan_out_module, "FAN_OUT_PAGE", 2)
    cancelled = replace(stack.event, sequence=1, status=EventStatus.CANCELLED)
    put(stack, FanOut(cancelled))
    # 40 s left, then 12 s less at each look: two pages, then too little time.
    assert drain(stack, 1, Context(40, step=12)) == {"batchItemFailures": []}

    handed_on = receive(stack, 5)
    bodies = [json.loads(m["Body"]) for m in handed_on]
    continuation = [b for b in bodies if "request" not in b]
    assert len(continuation) == 1 and continuation[0]["event"]["sequence"] == 1
    attendees = [b["request"]["email"].lower() for b in bodies if "request" in b]
    assert len(attendees) == 4
    assert stack.handler()(lambda_event(stack, handed_on), None) == {"batchItemFailures": []}

    rest = receive(stack, len(DISTINCT) - 4)
    assert stack.handler()(lambda_event(stack, rest), None) == {"batchItemFailures": []}
    for address in DISTINCT:
        last = calendars_to(stack, address)[-1]
        assert (last.method.value, last.vevent.status.value) == ("CANCEL", "CANCELLED")
        assert len(calendars_to(stack, address)) == 2
    record = stack.repository.get_attendee(stack.event.uid, "carol@example.org")
    assert (record.sequence, record.standing) == (1, Standing.CANCELLED)
    stored = stack.repository.get_event(stack.event.uid)
    assert stored.fan_out_done and stored.event.status is EventStatus.CANCELLED


def test_a_resend_delivered_twice_is_sent_once(invited: Stack) -> None:
    stack = invited
    put(stack, Resend(stack.event.uid, "Dave@Example.net"))
    [message] = receive(stack, 1)
    for _ in range(2):
        assert stack.handler()(lambda_event(stack, [message]), None) == {
            "batchItemFailures": []}
    assert stack.sent_to()["dave@example.net"] == 2
    stats = stack.repository.get_statistics(stack.event.uid)
    assert (stats.resends_sent, stats.duplicates_skipped) == (1, 2)
