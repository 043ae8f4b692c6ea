"""The DynamoDB invite repository: one table, conditional writes, flat counters."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from cis.adapters import keys
from cis.adapters.aws_errors import error_code
from cis.adapters.dynamodb.counter_expressions import (
    counter_updates,
    fences_of,
    marker_put,
    statistics_update,
)
from cis.adapters.dynamodb.errors import (
    CONDITION_FAILED,
    CONDITION_FAILED_REASON,
    cancellation_codes,
    cancellation_error,
    cancellation_item,
    first_condition_failed,
    refusal,
    translated_errors,
)
from cis.adapters.dynamodb.event_items import EventItems
from cis.adapters.dynamodb.expressions import (
    claim_update,
    reply_update,
    settlement_update,
    suppression_check,
    unchanged_check,
)
from cis.adapters.dynamodb.items import (
    attendee_record,
    counters_of,
    key_attributes,
)
from cis.adapters.dynamodb.partition import partition_items
from cis.adapters.dynamodb.recount import recount
from cis.adapters.dynamodb.suppression_list import DynamoDBSuppressionList
from cis.adapters.dynamodb.transactions import (
    MAX_TRANSACTION_ACTIONS,
    FenceTrips,
    chunks,
    write_dropping_lost,
)
from cis.domain import statistics
from cis.domain.claims import decide
from cis.domain.events import EventRecord
from cis.domain.model import (
    Applied,
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimBasis,
    ClaimOutcome,
    Counters,
    Event,
    ReplyChange,
    Settlement,
)
from cis.domain.statistics import EventStatistics
from cis.ports.repository import MARKER_RETENTION_DAYS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from cis.adapters.dynamodb.items import Item

__all__ = ["DynamoDBInviteRepository"]


class DynamoDBInviteRepository(DynamoDBSuppressionList):
    """Attendees and statistics in one DynamoDB table, keyed `pk`/`sk` (see `cis.adapters.keys`).

    Every mutation is a single conditional write or a single transaction, so concurrent
    consumers never need a read before they write.
    """

    def __init__(
        self,
        *,
        table_name: str,
        client: DynamoDBClient | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.table_name = table_name
        self._random = random.Random()  # noqa: S311 - spreads writes, guards nothing
        # Built here rather than at import, and only when the caller did not inject one.
        if client is None:
            client = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
        self.client: DynamoDBClient = client
        self._events = EventItems(client, table_name)

    def claim(self, claim: Claim) -> ClaimOutcome:
        """Claim with one transaction: the conditional update and its address's check.

        The update rather than a put, so that `history` from earlier attempts survives a
        take-over without reading it first; beside it, a condition check that the address is
        not suppressed, so one call decides both. On refusal, the returned old item says why.
        A transaction returns no old item on success, so a take-over of an expired claim is
        reported as CLAIMED; both are granted.
        """
        if claim.basis is not None:
            planned = decide(claim.basis.record, claim)
            if planned is ClaimOutcome.NEVER_SENT:
                return self._confirm_never_sent(claim, claim.basis)
            if not planned.granted:
                # Stale, sent, failed or in progress: later writes only move an attendee on.
                return planned
        actions: list[TransactWriteItemTypeDef] = [
            {"Update": claim_update(self.table_name, claim)},
            suppression_check(self.table_name, claim.key.address),
            *counter_updates(self.table_name, [(claim.key, claim.counters)]),
        ]
        try:
            with translated_errors("claim"):
                self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            codes = cancellation_codes(exc)
            if codes[:1] == [CONDITION_FAILED_REASON]:
                return refusal(claim, cancellation_item(exc, 0), exc)
            if codes[1:2] == [CONDITION_FAILED_REASON]:
                return ClaimOutcome.SUPPRESSED
            raise cancellation_error(exc, "claim") from exc
        return _granted(claim)

    def _confirm_never_sent(self, claim: Claim, basis: ClaimBasis) -> ClaimOutcome:
        """Check, in one step, that the attendee still was never sent anything.

        An invitation sent since the read would make a cancellation or removal due after all.
        """
        try:
            with translated_errors("claim"):
                self.client.transact_write_items(
                    TransactItems=[unchanged_check(self.table_name, claim, basis)])
        except ClientError as exc:
            if first_condition_failed(exc):
                return refusal(claim, cancellation_item(exc, 0), exc)
            raise cancellation_error(exc, "claim") from exc
        return ClaimOutcome.NEVER_SENT

    def settle_then_claim(
        self, settlements: Sequence[Settlement], claim: Claim
    ) -> tuple[Applied, ClaimOutcome]:
        """One transaction with the settlements, their counters and the claim.

        A lost claim or a refused claim cancels the whole transaction; the cancellation says
        which, with the refused claim's item, so the rest is sent again without them. Once
        every settlement is lost, a claim still pending is made on its own. Settlements too
        many for one transaction, or one of the attendee being claimed, are settled first in
        calls of their own. The claim's address is checked against the suppression list in
        the same transaction (a condition check that stands or falls with the claim).
        """
        if not settlements:
            return Applied(), self.claim(claim)
        grouped = chunks(settlements)
        if (len(grouped) > 1 or claim.key in {settlement.key for settlement in settlements}
                or not _planned_grant(claim) or len(settlements) > _MAX_CARRIED):
            return self.settle(settlements), self.claim(claim)
        # The claim and its check are the last conditional actions, after every settlement.
        claim_position, check_position = len(settlements), len(settlements) + 1
        refused: list[ClaimOutcome] = []
        trips = FenceTrips()

        def actions(pending: list[int]) -> list[TransactWriteItemTypeDef]:
            settling = [index for index in pending if index < claim_position]
            if not settling:
                return []  # a claim left alone is made by `claim`, with its check
            claiming = claim_position in pending
            transaction: list[TransactWriteItemTypeDef] = [
                {"Update": settlement_update(self.table_name, settlements[index])}
                for index in settling
            ]
            if claiming:
                transaction.append({"Update": claim_update(self.table_name, claim)})
                transaction.append(suppression_check(self.table_name, claim.key.address))
            counted = [(settlements[index].key, settlements[index].counters)
                       for index in settling]
            if claiming:
                counted.append((claim.key, claim.counters))
            fences = trips.active(fences_of([settlements[index] for index in settling]))
            transaction.extend(counter_updates(self.table_name, counted, fences))
            return transaction

        def lost(position: int, old: Item | None, exc: ClientError) -> None:
            if position == claim_position:
                refused.append(refusal(claim, old, exc))
            elif position == check_position:
                refused.append(ClaimOutcome.SUPPRESSED)

        written = write_dropping_lost(
            self.client, "settle and claim", [*grouped[0], claim_position, check_position],
            actions, lost, fences=trips, linked=frozenset({claim_position, check_position}),
        )
        applied = Applied((index in written for index in range(len(settlements))),
                          trips.overtaken)
        if claim_position in written:
            return applied, _granted(claim)
        return applied, refused[0] if refused else self.claim(claim)

    def settle(self, settlements: Sequence[Settlement]) -> Applied:
        """Settle in one transaction per chunk of up to 100 actions, counters included.

        Each chunk carries its attendee updates and one `ADD` per event of the chunk, so a
        record change and its counters commit together. Settlements whose claim was lost
        cancel the whole transaction; they are marked not applied and the rest is retried.
        A first message's `ADD` holds its version fence: a newer version stored before it
        cancels the transaction, which is sent again without that fence and reported.
        """
        applied = [False] * len(settlements)
        trips = FenceTrips()
        actions = partial(self._settlement_actions, settlements, trips)
        for chunk in chunks(settlements):
            for index in write_dropping_lost(self.client, "settle", chunk, actions,
                                             fences=trips):
                applied[index] = True
        return Applied(applied, trips.overtaken)

    def apply_reply(self, change: ReplyChange) -> bool:
        """Apply the reply in one call: a transaction with its counters, else one UpdateItem.

        The attendee update is conditional on the state the reply was decided on, and the
        statistics `ADD` rides in the same transaction, so both land or neither does. A
        failed condition means someone changed the attendee first: nothing is written.
        """
        attendee = reply_update(self.table_name, change)
        counters = statistics_update(self.table_name, change.key.event_uid, change.counters,
                                     shard=keys.statistics_shard(change.key.address))
        try:
            with translated_errors("apply_reply"):
                if counters is None:
                    self.client.update_item(**attendee)
                else:
                    self.client.transact_write_items(
                        TransactItems=[{"Update": attendee}, {"Update": counters}]
                    )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED or first_condition_failed(exc):
                return False
            raise cancellation_error(exc, "apply_reply") from exc
        return True

    def apply_statistics(self, event_uid: str, counters: Counters) -> None:
        """Add the counters with one UpdateItem `ADD`, which creates missing counters at zero.

        They go to a shard drawn at random: these writes come from any consumer, once per
        event per batch, and a random shard keeps two consumers off one item.
        """
        update = statistics_update(self.table_name, event_uid, counters,
                                   shard=self._random.randrange(keys.STATISTICS_SHARDS))
        if update is None:
            return
        with translated_errors("apply_statistics"):
            self.client.update_item(**update)

    def apply_statistics_once(self, marker: str, event_uid: str, counters: Counters) -> bool:
        """Put the marker item, if absent, and `ADD` the counters in one transaction.

        The marker item carries `expires_at` (seconds since 1970), the attribute the table's
        TTL deletes it by, `MARKER_RETENTION_DAYS` from now.
        """
        update = statistics_update(self.table_name, event_uid, counters,
                                   shard=keys.statistics_shard(marker))
        expires = int(time.time()) + MARKER_RETENTION_DAYS * 86_400
        actions = [marker_put(self.table_name, marker, event_uid, expires)]
        if update is not None:
            actions.append({"Update": update})
        try:
            with translated_errors("apply_statistics_once"):
                self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if first_condition_failed(exc):
                return False
            raise cancellation_error(exc, "apply_statistics_once") from exc
        return True

    def record_event(self, event: Event) -> EventRecord:
        """Store `event` as the event's version if it is newer (read, then a conditional put)."""
        return self._events.record(event)

    def get_event(self, event_uid: str) -> EventRecord | None:
        """The event's stored version, read consistently."""
        return self._events.get(event_uid)

    def record_fan_out(self, event_uid: str, sequence: int, *, to: str | None,
                       done: bool) -> bool:
        """Note a fan-out's progress on the event item, if it still holds `sequence`."""
        return self._events.note_fan_out(event_uid, sequence, to=to, done=done)

    def attendee_page(
        self, event_uid: str, *, after: str | None, limit: int
    ) -> list[AttendeeRecord]:
        """Up to `limit` attendees by address after `after` (Queries of the partition)."""
        return self._events.attendee_page(event_uid, after, limit)

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        """Read one attendee with a consistent read, so a claim just made is visible."""
        key = AttendeeKey.of(event_uid, email)
        with translated_errors("get_attendee"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key=key_attributes(keys.attendee_item_key(key)),
                ConsistentRead=True,
            )
        item = response.get("Item")
        return attendee_record(event_uid, item) if item else None

    def get_statistics(self, event_uid: str) -> EventStatistics:
        """Sum the event's statistics items, read with one consistent Query.

        An event never counted reads as zeros.
        """
        parts = [counters_of(item) for item in partition_items(
            self.client, self.table_name, event_uid, "get_statistics",
            sort_key_prefix=keys.STATISTICS_SORT_KEY)]
        return EventStatistics.from_counters(event_uid, statistics.merge(*parts))

    def recount(self, event_uid: str) -> EventStatistics:
        """Rebuild the counters from the records, losing no count written meanwhile.

        The difference is added on condition that no counter moved since it was read, and
        read again when one did (`cis.adapters.dynamodb.recount`).

        Raises:
            RepositoryError: transient, when writers kept moving the counters (nothing
                written), or as DynamoDB failed.

        """
        return recount(self.client, self.table_name, event_uid)

    def _settlement_actions(
        self, settlements: Sequence[Settlement], trips: FenceTrips, positions: Sequence[int]
    ) -> list[TransactWriteItemTypeDef]:
        """The settlements at `positions`, each conditional on its claim, then their counters."""
        settling = [settlements[index] for index in positions]
        actions: list[TransactWriteItemTypeDef] = [
            {"Update": settlement_update(self.table_name, settlement)} for settlement in settling
        ]
        actions.extend(counter_updates(
            self.table_name, [(settlement.key, settlement.counters) for settlement in settling],
            trips.active(fences_of(settling))))
        return actions


_MAX_CARRIED = (MAX_TRANSACTION_ACTIONS - 3) // 2
"""Settlements a claim's transaction carries at most: each with its event's counters, then the
claim, its suppression check and the claim's own counters, within DynamoDB's 100 actions."""


def _granted(claim: Claim) -> ClaimOutcome:
    """How a claim written without its old item went: as decided on its basis, else CLAIMED.

    A transaction returns no item, so a first invitation that took over an expired claim is
    reported as CLAIMED; both are granted.
    """
    if claim.basis is None:
        return ClaimOutcome.CLAIMED
    return decide(claim.basis.record, claim)


def _planned_grant(claim: Claim) -> bool:
    """Whether the claim, decided on what it read (a first invitation: unread), may be written."""
    return claim.basis is None or decide(claim.basis.record, claim).granted
