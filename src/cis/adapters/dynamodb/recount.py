"""A DynamoDB recount that loses no count written beside it.

DynamoDB cannot read an event's records and counters in one snapshot, so a recount that
read them and then replaced the counters would drop every count added in between. This one
reads the counters first, then the records, rebuilds, and adds the difference to the
statistics item in one transaction that holds only while no statistics item took a write
moving a recounted counter since it was read (`COUNTER_WRITES_ATTRIBUTE`, which every such
write increments). Every write that moves a recounted counter changes its attendee in the
same transaction, so a recount whose condition holds read each such change on both sides or
on neither. When a condition fails the recount starts over; it never writes a shard, so the
shards' version fences stay as `record_event` left them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from cis.adapters import keys
from cis.adapters.dynamodb.counter_expressions import COUNTER_WRITES, statistics_update
from cis.adapters.dynamodb.errors import (
    CONDITION_FAILED_REASON,
    cancellation_codes,
    cancellation_error,
    translated_errors,
)
from cis.adapters.dynamodb.items import (
    COUNTER_WRITES_ATTRIBUTE,
    attendee_record,
    counter_writes_of,
    counters_of,
    key_attributes,
    number,
)
from cis.adapters.dynamodb.partition import partition_items
from cis.domain import statistics
from cis.domain.statistics import EventStatistics
from cis.errors import RepositoryError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

    from cis.adapters.dynamodb.items import Item

__all__ = ["RECOUNT_ATTEMPTS", "RECOUNT_BACKOFF_SECONDS", "recount"]

RECOUNT_ATTEMPTS = 5
"""Reads and conditional writes a recount tries before it gives up, writing nothing."""
RECOUNT_BACKOFF_SECONDS = 0.1
"""The first wait between attempts, doubled each time, with full jitter (at most 1.5 s in all)."""

_RACED = frozenset({CONDITION_FAILED_REASON, "TransactionConflict"})
"""Why a recount's transaction is cancelled when a writer came first: read again and retry."""


def recount(
    client: DynamoDBClient, table_name: str, event_uid: str, *,
    attempts: int = RECOUNT_ATTEMPTS, sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> EventStatistics:
    """Rebuild the event's counters from its records, keeping every count written meanwhile.

    Nothing is written when the counters already match the records.

    Raises:
        RepositoryError: transient, when writers moved the counters during every attempt
            (nothing was written); or as DynamoDB failed.

    """
    for attempt in range(attempts):
        if attempt:
            sleep(jitter() * RECOUNT_BACKOFF_SECONDS * 2 ** (attempt - 1))
        seen = {item["sk"]["S"]: item for item in partition_items(
            client, table_name, event_uid, "recount", sort_key_prefix=keys.STATISTICS_SORT_KEY)}
        records = [attendee_record(event_uid, item) for item in partition_items(
            client, table_name, event_uid, "recount", sort_key_prefix=keys.ATTENDEE_PREFIX)]
        stored = statistics.merge(*(counters_of(item) for item in seen.values()))
        rebuilt = statistics.recount(records, stored)
        difference = statistics.merge(rebuilt, {name: -amount for name, amount in stored.items()})
        if not difference or _add_unless_moved(client, table_name, event_uid, seen, difference):
            return EventStatistics.from_counters(event_uid, rebuilt)
    raise RepositoryError(
        f"DynamoDB recount of event {event_uid!r}: the counters kept moving under concurrent "
        f"writers in {attempts} attempts; nothing was written, run it again when the event "
        "is quieter", transient=True)


def _add_unless_moved(
    client: DynamoDBClient, table_name: str, event_uid: str, seen: dict[str, Item],
    difference: dict[str, int],
) -> bool:
    """Add `difference` to the recount's item while every statistics item is as read.

    One transaction: the `ADD` on the recount's item and a check on each shard, 17 actions.
    False when a writer came first.
    """
    actions: list[TransactWriteItemTypeDef] = []
    for shard in (None, *range(keys.STATISTICS_SHARDS)):
        key = keys.statistics_item_key(event_uid, shard)
        condition, values = _unmoved(seen.get(key["sk"]))
        if shard is None:
            update = statistics_update(table_name, event_uid, difference, shard=None)
            assert update is not None  # the difference is never empty here
            update["ConditionExpression"] = condition
            update["ExpressionAttributeNames"] = {
                **update.get("ExpressionAttributeNames", {}),
                COUNTER_WRITES: COUNTER_WRITES_ATTRIBUTE}
            update["ExpressionAttributeValues"] = {
                **update.get("ExpressionAttributeValues", {}), **values}
            actions.append({"Update": update})
            continue
        check: TransactWriteItemTypeDef = {"ConditionCheck": {
            "TableName": table_name, "Key": key_attributes(key),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {COUNTER_WRITES: COUNTER_WRITES_ATTRIBUTE},
        }}
        if values:
            check["ConditionCheck"]["ExpressionAttributeValues"] = values
        actions.append(check)
    try:
        with translated_errors("recount"):
            client.transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if _RACED & set(cancellation_codes(exc)):
            return False
        raise cancellation_error(exc, "recount") from exc
    return True


def _unmoved(item: Item | None) -> tuple[str, dict[str, AttributeValueTypeDef]]:
    """The condition that a statistics item took no recounted-counter write since `item`."""
    writes = counter_writes_of(item)
    if writes is None:
        return f"attribute_not_exists({COUNTER_WRITES})", {}
    return f"{COUNTER_WRITES} = :seen_writes", {":seen_writes": number(str(writes))}
