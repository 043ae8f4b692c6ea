"""The producer side: turn what an organiser asks for into queue messages and enqueue them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import islice

from cis.domain.model import (
    Event,
    InviteAction,
    Invitee,
    InviteRequest,
    QueueMessage,
    Resend,
    normalise_address,
)
from cis.messages.invite_format import encode_message
from cis.ports.queue import InviteQueue, OutgoingMessage

__all__ = [
    "deduplication_id", "enqueue_invites", "enqueue_messages", "group_id", "invite_messages",
    "outgoing_message",
]

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
        yield outgoing_message(InviteRequest(event=event, invitee=invitee))


def outgoing_message(message: QueueMessage, *, part: str | None = None) -> OutgoingMessage:
    """`message` as a queue message, its FIFO deduplication id naming exactly what it asks.

    A first invitation keeps `deduplication_id` (the event and attendee); any other message
    adds its version and what it does, so an update is never dropped as a repeat of the
    invitation. A FIFO queue still drops the same resend asked twice within its window.
    `part` names where a fan-out resumes, so each part of one is a message of its own.
    """
    if isinstance(message, InviteRequest):
        event_uid = message.event.uid
        if message.event.sequence == 0 and message.action is InviteAction.INVITE:
            dedup = deduplication_id(event_uid, message.invitee.email)
        else:
            dedup = _digest(event_uid, normalise_address(message.invitee.email),
                            str(message.event.sequence), str(message.action),
                            str(message.event.status))
    elif isinstance(message, Resend):
        event_uid = message.event_uid
        dedup = _digest(event_uid, normalise_address(message.email), str(InviteAction.RESEND))
    else:
        event_uid = message.event.uid
        dedup = _digest(event_uid, "fan-out", str(message.event.sequence), part or "")
    return OutgoingMessage(body=encode_message(message), deduplication_id=dedup,
                           group_id=group_id(event_uid))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def enqueue_messages(
    queue: InviteQueue, messages: Iterable[QueueMessage], *, batch_size: int = 10
) -> int:
    """Enqueue messages of any kind (updates, removals, fan-outs, resends), in batches.

    Returns how many were enqueued; on an error the batches before it are on the queue.

    Raises:
        ValueError: when `batch_size` is not positive.
        cis.errors.QueueError: naming the messages the queue refused.

    """
    return _enqueue(queue, (outgoing_message(message) for message in messages), batch_size)


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
    return _enqueue(queue, invite_messages(event, invitees), batch_size)


def _enqueue(queue: InviteQueue, messages: Iterator[OutgoingMessage], batch_size: int) -> int:
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    enqueued = 0
    while batch := list(islice(messages, batch_size)):
        queue.enqueue(batch)
        enqueued += len(batch)
    return enqueued
