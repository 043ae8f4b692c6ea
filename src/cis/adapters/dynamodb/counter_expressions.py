"""DynamoDB counting writes: statistics `ADD`s, the version fences they hold to, and markers.

Apart from the attendee and suppression updates in `expressions`, because these touch the
statistics and marker items: what a count adds, to which shard, and under which fence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from cis.adapters import keys
from cis.adapters.dynamodb.items import (
    COUNTER_WRITES_ATTRIBUTE,
    FENCE_ATTRIBUTE,
    MARKER_EXPIRY_ATTRIBUTE,
    key_attributes,
    number,
    string,
)
from cis.domain import statistics
from cis.domain.model import AttendeeKey, Counters, MarkSent, Settlement

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        TransactWriteItemTypeDef,
        UpdateTypeDef,
    )

__all__ = [
    "COUNTER_WRITES",
    "counter_updates",
    "fence_update",
    "fences_of",
    "marker_put",
    "statistics_update",
]


def statistics_update(
    table_name: str, event_uid: str, counters: Counters, *, shard: int | None
) -> UpdateTypeDef | None:
    """One `ADD` of every non-zero counter to one statistics item of the event; None if none is.

    `shard` None is the item only a recount adds to. A write moving a counter that a recount
    rebuilds from the records also adds one to the item's `COUNTER_WRITES_ATTRIBUTE`, in the
    same `ADD`: a recount that read the item writes only while that count is unchanged.
    """
    # Counter names contain `:` and come from callers, so each gets a numbered placeholder.
    counters = {name: amount for name, amount in counters.items() if amount}
    if not counters:
        return None
    names: dict[str, str] = {}
    values: dict[str, AttributeValueTypeDef] = {}
    clauses = []
    for position, (name, amount) in enumerate(sorted(counters.items())):
        names[f"#c{position}"] = name
        values[f":c{position}"] = number(str(amount))
        clauses.append(f"#c{position} :c{position}")
    if any(statistics.rebuilt_from_records(name) for name in counters):
        names[COUNTER_WRITES] = COUNTER_WRITES_ATTRIBUTE
        values[":one"] = number("1")
        clauses.append(f"{COUNTER_WRITES} :one")
    return {
        "TableName": table_name,
        "Key": key_attributes(keys.statistics_item_key(event_uid, shard)),
        "UpdateExpression": "ADD " + ", ".join(clauses),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


COUNTER_WRITES = "#writes"
"""The placeholder of `COUNTER_WRITES_ATTRIBUTE` in every expression that names it."""


def counter_updates(
    table_name: str, parts: Sequence[tuple[AttendeeKey, Counters]],
    fences: Mapping[str, int] | None = None,
) -> list[TransactWriteItemTypeDef]:
    """One statistics `ADD` per event, for what the attendees in `parts` count.

    An event's `ADD` goes to the shard of its first attendee here: one item per event keeps
    the transaction small (it may touch an item only once), and which shard holds a count
    does not change the sum. For an event in `fences` (the lowest SEQUENCE a first message
    of the transaction carried), the `ADD` holds only while the shard's version fence is not
    above it: a newer version stored before this write cancels the transaction, and the
    cancellation returns the shard, fence included.
    """
    fences = fences or {}
    by_event: dict[str, tuple[AttendeeKey, list[Counters]]] = {}
    for key, counters in parts:
        _, counted = by_event.setdefault(key.event_uid, (key, []))
        counted.append(counters)
    updates: list[TransactWriteItemTypeDef] = []
    for event_uid, (first, counted) in by_event.items():
        shard = keys.statistics_shard(first.address)
        update = statistics_update(table_name, event_uid, statistics.merge(*counted),
                                   shard=shard)
        fence = fences.get(event_uid)
        if update is None and fence is None:
            continue
        if update is None:
            updates.append({"ConditionCheck": {
                "TableName": table_name,
                "Key": key_attributes(keys.statistics_item_key(event_uid, shard)),
                "ConditionExpression": _FENCE_HOLDS,
                "ExpressionAttributeNames": {"#fence": FENCE_ATTRIBUTE},
                "ExpressionAttributeValues": {":fence": number(str(fence))},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }})
            continue
        if fence is not None:
            update["ConditionExpression"] = _FENCE_HOLDS
            update["ExpressionAttributeNames"] = {
                **update.get("ExpressionAttributeNames", {}), "#fence": FENCE_ATTRIBUTE}
            update["ExpressionAttributeValues"] = {
                **update.get("ExpressionAttributeValues", {}), ":fence": number(str(fence))}
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        updates.append({"Update": update})
    return updates


_FENCE_HOLDS = "attribute_not_exists(#fence) OR #fence <= :fence"
"""No newer version than the one a transaction's first messages carried was stored."""


def fence_update(table_name: str, event_uid: str, shard: int, sequence: int) -> UpdateTypeDef:
    """Set one statistics shard's version fence to a newly stored version's SEQUENCE."""
    return {
        "TableName": table_name,
        "Key": key_attributes(keys.statistics_item_key(event_uid, shard)),
        "UpdateExpression": "SET #fence = :fence",
        "ExpressionAttributeNames": {"#fence": FENCE_ATTRIBUTE},
        "ExpressionAttributeValues": {":fence": number(str(sequence))},
    }


def fences_of(settlements: Sequence[Settlement]) -> dict[str, int]:
    """Per event, the lowest SEQUENCE a first message among `settlements` carried."""
    fences: dict[str, int] = {}
    for settlement in settlements:
        if isinstance(settlement, MarkSent) and settlement.fence is not None:
            uid = settlement.key.event_uid
            fences[uid] = min(settlement.fence, fences.get(uid, settlement.fence))
    return fences


def marker_put(
    table_name: str, marker: str, event_uid: str, expires: int
) -> TransactWriteItemTypeDef:
    """Put a counting marker unless it exists; the table's TTL deletes it at `expires`."""
    return {"Put": {
        "TableName": table_name,
        "Item": {
            **key_attributes(keys.marker_item_key(marker)),
            "counted_under": string(event_uid),
            MARKER_EXPIRY_ATTRIBUTE: number(str(expires)),
        },
        "ConditionExpression": "attribute_not_exists(pk)",
    }}
