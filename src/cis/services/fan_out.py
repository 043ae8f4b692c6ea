"""A fan-out: one version of an event brought to every attendee already sent one, page by page.

Organisers change an event once; the consumer turns that into one message per attendee. It
pages the attendee records by address, hands each page's messages on in groups of ten (a
queue's batch, or a batch sent at once), and notes on the event's stored version how far it
got. A fan-out stopped by a crash or the clock resumes after the last page it noted; the
attendees of the page it was on are handed on again, and the per-attendee rule (one message
per attendee and version) absorbs the repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from cis.domain.events import EventRecord, fan_out_request, reached_by_fan_out
from cis.domain.model import InviteRequest
from cis.ports.queue import InviteQueue
from cis.ports.repository import InviteRepository
from cis.services.producer import outgoing_message

__all__ = [
    "FAN_OUT_PAGE", "RELAY_BATCH", "Deliver", "FanOutProgress", "expand", "relay_to",
]

_T = TypeVar("_T")

FAN_OUT_PAGE = 100
"""Attendees read per page: one Query of a few kilobytes, noted as one step of progress."""
RELAY_BATCH = 10
"""Messages handed on at once: SQS takes at most ten per SendMessageBatch."""

Deliver = Callable[[Sequence[InviteRequest]], bool]
"""Hands a group of per-attendee messages on; False when not all were taken (stop there)."""


class Attempt(Protocol):
    """Runs one store call, as the caller tries store calls (its retries of passing errors)."""

    def __call__(self, action: Callable[[], _T], /) -> _T: ...


def _once(action: Callable[[], _T], /) -> _T:
    return action()


@dataclass(frozen=True, slots=True)
class FanOutProgress:
    """How far one run of a fan-out got."""

    #: Per-attendee messages handed on by this run.
    handed_on: int
    #: Every attendee was reached; the stored version says so.
    done: bool
    #: A newer version was stored meanwhile: its own fan-out reaches everyone.
    superseded: bool = False
    #: Why the run stopped before the end, when it did (out of time, a group not taken).
    stopped: str | None = None
    #: It stopped because too little time was left: the rest can go on in another run.
    out_of_time: bool = False


def expand(
    repository: InviteRepository,
    stored: EventRecord,
    deliver: Deliver,
    *,
    more_time: Callable[[], bool] = lambda: True,
    attempt: Attempt = _once,
    page_size: int | None = None,
    group_size: int = RELAY_BATCH,
) -> FanOutProgress:
    """Hand on a message for each attendee `stored` reaches, from where its fan-out stopped.

    `more_time` is asked before each page; `attempt` wraps each store call (the caller's
    retries of passing failures). `stored` must be read now: its noted progress is where
    this run starts.

    Raises:
        cis.errors.RepositoryError: the store failed (what was noted stays noted).
        cis.errors.QueueError: `deliver` could not hand a group on.

    """
    page_size = page_size or FAN_OUT_PAGE
    event = stored.event
    cursor = stored.fanned_out_to
    handed_on = 0
    while True:
        if not more_time():
            return FanOutProgress(handed_on, done=False, stopped="too little time left",
                                  out_of_time=True)
        page = attempt(partial(repository.attendee_page, event.uid, after=cursor,
                               limit=page_size))
        requests = [fan_out_request(attendee, stored) for attendee in page
                    if reached_by_fan_out(attendee, event.sequence)]
        for start in range(0, len(requests), group_size):
            group = requests[start:start + group_size]
            if not deliver(group):
                return FanOutProgress(handed_on, done=False,
                                      stopped="a message was not handed on")
            handed_on += len(group)
        done = len(page) < page_size
        cursor = page[-1].key.address if page else cursor
        if not attempt(partial(repository.record_fan_out, event.uid, event.sequence, to=cursor,
                               done=done)):
            return FanOutProgress(handed_on, done=False, superseded=True)
        if done:
            return FanOutProgress(handed_on, done=True)


def relay_to(queue: InviteQueue) -> Deliver:
    """Deliver groups by putting them on `queue`, one SendMessageBatch per group."""
    def deliver(requests: Sequence[InviteRequest]) -> bool:
        queue.enqueue([outgoing_message(request) for request in requests])
        return True

    return deliver
