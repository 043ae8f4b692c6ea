"""DynamoDB transactions of conditional writes: chunked to fit, resent without lost actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cis.adapters import keys
from cis.adapters.dynamodb.errors import (
    CONDITION_FAILED_REASON,
    cancellation_codes,
    cancellation_item,
    lost_positions,
    translated_errors,
)
from cis.adapters.dynamodb.items import fence_of
from cis.domain.model import AttendeeKey, Settlement

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cis.adapters.dynamodb.items import Item

__all__ = ["MAX_TRANSACTION_ACTIONS", "FenceTrips", "chunks", "write_dropping_lost"]

MAX_TRANSACTION_ACTIONS = 100
"""DynamoDB refuses a transaction with more actions than this."""


class FenceTrips:
    """The version fences a settlement transaction met: event uid -> the stored SEQUENCE.

    A transaction builds its fences through `active`, so once one trips it is sent again
    without that fence (the settlements must land; the caller reports them overtaken).
    """

    def __init__(self) -> None:
        self.overtaken: dict[str, int] = {}

    def active(self, fences: dict[str, int]) -> dict[str, int]:
        """The fences still to check: those of events not yet found overtaken."""
        return {uid: fence for uid, fence in fences.items() if uid not in self.overtaken}

    def met(self, shard: Item | None) -> bool:
        """Note the fence of the statistics shard a cancellation returned; False if none."""
        fence = fence_of(shard)
        pk = shard.get("pk", {}).get("S", "") if shard else ""
        if fence is None or not pk.startswith(keys.EVENT_PREFIX):
            return False
        uid = pk.removeprefix(keys.EVENT_PREFIX)
        self.overtaken[uid] = max(fence, self.overtaken.get(uid, fence))
        return True


def write_dropping_lost(
    client: DynamoDBClient,
    operation: str,
    positions: Sequence[int],
    actions: Callable[[list[int]], list[TransactWriteItemTypeDef]],
    on_lost: Callable[[int, Item | None, ClientError], None] | None = None,
    fences: FenceTrips | None = None,
    linked: frozenset[int] = frozenset(),
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
    any other cause is raised as a `RepositoryError`. A version fence met by one of the
    actions after the conditional ones (a statistics `ADD`, see `counter_updates`) is noted in
    `fences`, and the transaction sent again without it. The `linked` positions are written
    together or not at all (a claim and the check of its address's suppression): when one is
    lost, the others are dropped with it.

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
            if fences is not None and _fences_met(exc, len(pending), fences):
                continue
            lost = lost_positions(exc, len(pending))
            if on_lost is not None:
                for position in sorted(lost):
                    on_lost(pending[position], cancellation_item(exc, position), exc)
            dropped = {pending[position] for position in lost}
            if dropped & linked:
                dropped |= linked
            pending = [index for index in pending if index not in dropped]
            continue
        return pending
    return []


def _fences_met(exc: ClientError, conditional_count: int, fences: FenceTrips) -> bool:
    """Whether an action after the conditional ones failed on its version fence (noted)."""
    met = False
    for position, code in enumerate(cancellation_codes(exc)):
        if position >= conditional_count and code == CONDITION_FAILED_REASON:
            met = fences.met(cancellation_item(exc, position)) or met
    return met


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
