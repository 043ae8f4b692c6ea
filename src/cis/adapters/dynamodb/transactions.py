"""DynamoDB transactions of conditional writes: chunked to fit, resent without lost actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cis.adapters.dynamodb.errors import cancellation_item, lost_positions, translated_errors
from cis.domain.model import AttendeeKey, Settlement

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cis.adapters.dynamodb.items import Item

__all__ = ["MAX_TRANSACTION_ACTIONS", "chunks", "write_dropping_lost"]

MAX_TRANSACTION_ACTIONS = 100
"""DynamoDB refuses a transaction with more actions than this."""


def write_dropping_lost(
    client: DynamoDBClient,
    operation: str,
    positions: Sequence[int],
    actions: Callable[[list[int]], list[TransactWriteItemTypeDef]],
    on_lost: Callable[[int, Item | None, ClientError], None] | None = None,
) -> list[int]:
    """Write a transaction of conditional actions, resending it without those that lost.

    `actions(pending)` builds the transaction for the positions still pending: first one
    conditional action per position, in order, then whatever rides on them (the statistics
    `ADD`s of the settlements still pending). An empty transaction ends the loop with nothing
    written. When DynamoDB cancels the transaction because conditions failed (a claim taken
    over, an attendee claimed by someone else), those positions are dropped and the rest is
    sent again; `on_lost` is told of each dropped position, with the old item DynamoDB
    returned for it (when the action asked for one) and the cancellation. Each retry drops
    at least one position, so this makes at most `len(positions)` calls. A cancellation for
    any other cause is raised as a `RepositoryError`.

    Returns:
        The positions written, in order: empty when none was.

    """
    pending = list(positions)
    while pending:
        transaction = actions(pending)
        if not transaction:
            break
        try:
            with translated_errors(operation):
                client.transact_write_items(TransactItems=transaction)
        except ClientError as exc:
            lost = lost_positions(exc, len(pending))
            if on_lost is not None:
                for position in sorted(lost):
                    on_lost(pending[position], cancellation_item(exc, position), exc)
            pending = [index for position, index in enumerate(pending) if position not in lost]
            continue
        return pending
    return []


def chunks(settlements: Sequence[Settlement]) -> list[list[int]]:
    """Group settlement positions into transactions within DynamoDB's limits.

    A transaction holds at most 100 actions, one statistics update per event counted in, and
    may touch an item only once: a second settlement of the same attendee starts a new chunk,
    so it is decided after the first, as the in-memory repository does.
    """
    grouped: list[list[int]] = []
    current: list[int] = []
    attendees: set[AttendeeKey] = set()
    events: set[str] = set()
    for index, settlement in enumerate(settlements):
        more_events = events | ({settlement.key.event_uid} if settlement.counters else set())
        if current and (
            settlement.key in attendees
            or len(current) + 1 + len(more_events) > MAX_TRANSACTION_ACTIONS
        ):
            grouped.append(current)
            current, attendees = [], set()
            more_events = {settlement.key.event_uid} if settlement.counters else set()
        current.append(index)
        attendees.add(settlement.key)
        events = more_events
    if current:
        grouped.append(current)
    return grouped
