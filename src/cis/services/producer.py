"""The producer side: turn an event and its invitees into queue messages and enqueue them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import islice

from cis.domain.model import Event, Invitee, InviteRequest, normalise_address
from cis.messages.invite_format import encode_request
from cis.ports.queue import InviteQueue, OutgoingMessage

__all__ = ["deduplication_id", "enqueue_invites", "group_id", "invite_messages"]

MAX_GROUP_ID_LENGTH = 128
"""SQS's limit on a FIFO MessageGroupId; event uids may be up to 255 characters."""


def deduplication_id(event_uid: str, email: str) -> str:
    """Name the (event, attendee) pair, the same for every spelling of the address.

    A hash rather than the address itself keeps the id within SQS's 128-character limit and
    keeps addresses out of the queue's metadata.
    """
    key = f"{event_uid}\n{normalise_address(email)}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def group_id(event_uid: str) -> str:
    """The FIFO group of one event: its uid, or the uid's hash when the uid is too long."""
    if len(event_uid) <= MAX_GROUP_ID_LENGTH:
        return event_uid
    return hashlib.sha256(event_uid.encode("utf-8")).hexdigest()


def invite_messages(event: Event, invitees: Iterable[Invitee]) -> Iterator[OutgoingMessage]:
    """One message per invitee, lazily, so a long guest list is never held twice in memory.

    Repeated attendees are not dropped here: the consumer deduplicates them atomically, and a
    FIFO queue drops a repeat within its window by the deduplication id.
    """
    for invitee in invitees:
        yield OutgoingMessage(
            body=encode_request(InviteRequest(event=event, invitee=invitee)),
            deduplication_id=deduplication_id(event.uid, invitee.email),
            group_id=group_id(event.uid),
        )


def enqueue_invites(
    queue: InviteQueue, event: Event, invitees: Iterable[Invitee], *, batch_size: int = 10
) -> int:
    """Enqueue an invitation request for every invitee, `batch_size` messages per call.

    Returns how many messages were enqueued. On an error the batches before it are already on
    the queue; enqueueing the whole list again is safe because the consumer sends each
    attendee at most one invitation.

    Raises:
        ValueError: when `batch_size` is not positive.
        cis.errors.QueueError: naming the messages the queue refused.

    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    messages = invite_messages(event, invitees)
    enqueued = 0
    while batch := list(islice(messages, batch_size)):
        queue.enqueue(batch)
        enqueued += len(batch)
    return enqueued
