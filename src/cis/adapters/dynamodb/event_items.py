"""The DynamoDB item holding an event's current version, and the pages of its attendees.

A newer version is written in one transaction with its SEQUENCE on each of the event's
statistics shards (`FENCE_ATTRIBUTE`): every settlement adds its counters to a shard, so a
first message settled after the newer version was stored finds it there, at no extra call
(see `cis.adapters.dynamodb.counter_expressions.counter_updates`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from cis.adapters import keys
from cis.adapters.aws_errors import error_code
from cis.adapters.dynamodb.counter_expressions import fence_update
from cis.adapters.dynamodb.errors import (
    CONDITION_FAILED,
    cancellation_error,
    first_condition_failed,
    translated_errors,
)
from cis.adapters.dynamodb.items import attendee_record, key_attributes, number, string
from cis.domain.events import EventRecord, next_event_record
from cis.domain.model import AttendeeRecord, Event
from cis.errors import RepositoryError
from cis.messages.event_json import event_from_text, event_text

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

    from cis.adapters.dynamodb.items import Item

__all__ = ["EventItems"]

RECORD_ATTEMPTS = 5
"""Tries of storing a newer version when other writers keep replacing the one read."""


class EventItems:
    """Reads and writes one table's event items (`pk` event#<uid>, `sk` event)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def get(self, event_uid: str) -> EventRecord | None:
        """The stored version, read consistently."""
        with translated_errors("get_event"):
            response = self.client.get_item(
                TableName=self.table_name, ConsistentRead=True,
                Key=key_attributes(keys.event_item_key(event_uid)))
        item = response.get("Item")
        return _record(item) if item else None

    def record(self, event: Event) -> EventRecord:
        """Store `event` if newer: read, decide, put on condition the stored one is as read."""
        for _ in range(RECORD_ATTEMPTS):
            current = self.get(event.uid)
            newer = next_event_record(current, event)
            if newer is None:
                assert current is not None
                return current
            condition = ("attribute_not_exists(#pk)" if current is None
                         else "#sequence = :seen")
            values = {} if current is None else {":seen": number(str(current.sequence))}
            if self._put(newer, condition, values):
                return newer
        raise RepositoryError(f"the version of event {event.uid!r} kept changing under "
                              "concurrent writers", transient=True, conflict=True)

    def note_fan_out(self, event_uid: str, sequence: int, *, to: str | None,
                     done: bool) -> bool:
        """Note a fan-out's progress, on condition the stored version is still `sequence`."""
        names = {"#sequence": "sequence", "#done": "fan_out_done"}
        values: dict[str, AttributeValueTypeDef] = {
            ":sequence": number(str(sequence)), ":done": {"BOOL": done}}
        if to is None:
            expression = "SET #done = :done REMOVE #to"
        else:
            expression = "SET #done = :done, #to = :to"
            values[":to"] = string(to)
        names["#to"] = "fanned_out_to"
        try:
            with translated_errors("record_fan_out"):
                self.client.update_item(
                    TableName=self.table_name, Key=key_attributes(keys.event_item_key(event_uid)),
                    UpdateExpression=expression, ConditionExpression="#sequence = :sequence",
                    ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise  # pragma: no cover - translated_errors lets only condition failures out
        return True

    def attendee_page(self, event_uid: str, after: str | None,
                      limit: int) -> list[AttendeeRecord]:
        """Up to `limit` attendees by address after `after`, with consistent Queries."""
        records: list[AttendeeRecord] = []
        start: Item | None = None
        if after is not None:
            start = {"pk": string(keys.event_pk(event_uid)),
                     "sk": string(keys.ATTENDEE_PREFIX + after)}
        while len(records) < limit:
            arguments: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            with translated_errors("attendee_page"):
                page = self.client.query(
                    TableName=self.table_name, ConsistentRead=True,
                    KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                    ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                    ExpressionAttributeValues={":pk": string(keys.event_pk(event_uid)),
                                               ":prefix": string(keys.ATTENDEE_PREFIX)},
                    Limit=limit - len(records), **arguments)
            records.extend(attendee_record(event_uid, item) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return records

    def _put(self, record: EventRecord, condition: str,
             values: dict[str, AttributeValueTypeDef]) -> bool:
        item: dict[str, AttributeValueTypeDef] = {
            **key_attributes(keys.event_item_key(record.event.uid)),
            "sequence": number(str(record.sequence)),
            "times_changed_at": number(str(record.times_changed_at)),
            "event": string(event_text(record.event)),
            "fan_out_done": {"BOOL": record.fan_out_done},
        }
        if record.fanned_out_to is not None:
            item["fanned_out_to"] = string(record.fanned_out_to)
        names = {"#pk": "pk"} if "#pk" in condition else {"#sequence": "sequence"}
        put: PutTypeDef = {"TableName": self.table_name, "Item": item,
                           "ConditionExpression": condition, "ExpressionAttributeNames": names}
        if values:
            put["ExpressionAttributeValues"] = values
        fences: list[TransactWriteItemTypeDef] = [
            {"Update": fence_update(self.table_name, record.event.uid, shard, record.sequence)}
            for shard in range(keys.STATISTICS_SHARDS)
        ]
        try:
            with translated_errors("record_event"):
                self.client.transact_write_items(TransactItems=[{"Put": put}, *fences])
        except ClientError as exc:
            if first_condition_failed(exc):
                return False
            raise cancellation_error(exc, "record_event") from exc
        return True


def _record(item: Item) -> EventRecord:
    try:
        event = event_from_text(item["event"]["S"])
    except (KeyError, ValueError) as exc:
        raise RepositoryError(f"event item is unreadable: {exc}", transient=False) from exc
    to = item.get("fanned_out_to")
    return EventRecord(event, times_changed_at=int(item["times_changed_at"]["N"]),
                       fanned_out_to=to["S"] if to else None,
                       fan_out_done=bool(item.get("fan_out_done", {}).get("BOOL", False)))
