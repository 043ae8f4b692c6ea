"""Reading one event's partition with consistent Queries, page after page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cis.adapters import keys
from cis.adapters.dynamodb.errors import translated_errors
from cis.adapters.dynamodb.items import string

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from cis.adapters.dynamodb.items import Item

__all__ = ["partition_items"]


def partition_items(
    client: DynamoDBClient, table_name: str, event_uid: str, operation: str, *,
    sort_key_prefix: str | None = None,
) -> Iterator[Item]:
    """Every item of the event's partition, or those whose sort key has the prefix.

    Each page is read consistently, so a write that returned before the page was asked for
    is in it; pages are not one snapshot of the partition.
    """
    condition = "#pk = :pk"
    names = {"#pk": "pk"}
    values: dict[str, AttributeValueTypeDef] = {":pk": string(keys.event_pk(event_uid))}
    if sort_key_prefix is not None:
        condition += " AND begins_with(#sk, :prefix)"
        names["#sk"] = "sk"
        values[":prefix"] = string(sort_key_prefix)
    start: Item | None = None
    while True:
        arguments: dict[str, Any] = {}
        if start:
            arguments["ExclusiveStartKey"] = start
        with translated_errors(operation):
            page = client.query(
                TableName=table_name,
                KeyConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
                **arguments,
            )
        yield from page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return
