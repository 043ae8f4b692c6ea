"""DynamoDB write units from item sizes, by DynamoDB's documented rules.

Shared by bench/aws_cost.py and the load model (tests/load/aws_under_load.py), which both
measure each written item before and after the request that writes it. The rules and their
sources are set out in bench/aws_cost.py's docstring; in short:

- an item's size is the sum over its attributes of the UTF-8 length of the name plus the size
  of the value ("DynamoDB item sizes and formats");
- a standard PutItem, UpdateItem or DeleteItem costs ceil(size / 1 KB) WCU, at least 1, where
  the size is the larger of the item before and after the write;
- a TransactWriteItems costs twice that for every item it touches (prepare + commit).

Items are keyed `pk`/`sk`, as every cis table is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cis.adapters.keys import STATISTICS_SORT_KEY

__all__ = [
    "CLAIM", "KB", "RECORD", "STATISTICS", "Write", "item_size", "item_sizes", "number_size",
    "role_of", "standard_wcu", "value_size", "written_items",
]

KB = 1024
CLAIM, RECORD, STATISTICS = "claim", "record", "statistics"


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value (without its name), by "DynamoDB item sizes and formats"."""
    [(kind, data)] = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in data)
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + value_size(element) + 1
                       for name, element in data.items())
    if kind == "SS":
        return sum(len(element.encode("utf-8")) for element in data)
    if kind == "NS":
        return sum(number_size(element) for element in data)
    if kind == "BS":
        return sum(len(element) for element in data)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def number_size(text: str) -> int:
    """About one byte per two significant digits, plus one; leading and trailing zeros trimmed."""
    mantissa = text.lower().split("e")[0].lstrip("+-")
    digits = mantissa.replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Bytes of a whole item: names and values of every attribute, keys included; 0 if absent."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def standard_wcu(before: int, after: int) -> int:
    """A standard write: 1 WCU per started KB of the larger of the item before and after."""
    return max(1, math.ceil(max(before, after) / KB))


@dataclass(frozen=True)
class Write:
    """One item written by one request, measured before and after the request."""

    operation: str
    role: str  # CLAIM, RECORD (an outcome written on the attendee) or STATISTICS
    before: int
    after: int

    @property
    def statistics(self) -> bool:
        return self.role == STATISTICS

    @property
    def transactional(self) -> bool:
        return self.operation == "TransactWriteItems"

    @property
    def standard_wcu(self) -> int:
        return standard_wcu(self.before, self.after)

    @property
    def wcu(self) -> int:
        return self.standard_wcu * (2 if self.transactional else 1)


def written_items(operation: str,
                  request: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(table, key, role) of every item a write request writes, in request order; empty for a read.

    A transaction's every action counts, a ConditionCheck included.
    """
    if operation in ("UpdateItem", "DeleteItem"):
        return [(request["TableName"], request["Key"], role_of(request))]
    if operation == "PutItem":
        item = request["Item"]
        return [(request["TableName"], {"pk": item["pk"], "sk": item["sk"]}, role_of(request))]
    if operation == "TransactWriteItems":
        found = []
        for action in request["TransactItems"]:
            [(kind, detail)] = action.items()
            key = detail["Item"] if kind == "Put" else detail["Key"]
            found.append((detail["TableName"], {"pk": key["pk"], "sk": key["sk"]},
                          role_of(detail)))
        return found
    if operation == "BatchWriteItem":
        found = []
        for table, entries in request["RequestItems"].items():
            for entry in entries:
                key = entry["PutRequest"]["Item"] if "PutRequest" in entry else (
                    entry["DeleteRequest"]["Key"])
                found.append((table, {"pk": key["pk"], "sk": key["sk"]}, role_of(key)))
        return found
    return []


def role_of(write: Mapping[str, Any]) -> str:
    """What one written item is for: only a claim may create an attendee item."""
    key = write.get("Key") or write.get("Item") or write
    if key["sk"]["S"].startswith(STATISTICS_SORT_KEY):
        return STATISTICS
    return CLAIM if "attribute_not_exists" in write.get("ConditionExpression", "") else RECORD


def item_sizes(client: Any, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[int]:
    """The current size of each (table, key) item, 0 if absent: one consistent BatchGetItem per 100.

    `client` is a DynamoDB client nobody counts (no hooks), so measuring adds no call to a tally.
    """
    found: dict[tuple[str, str, str], int] = {}
    for start in range(0, len(items), 100):
        wanted: dict[str, Any] = {}
        for table, key in items[start:start + 100]:
            wanted.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
        while wanted:
            response = client.batch_get_item(RequestItems=wanted)
            for table, stored in response["Responses"].items():
                for item in stored:
                    found[table, item["pk"]["S"], item["sk"]["S"]] = item_size(item)
            wanted = response.get("UnprocessedKeys") or {}
    return [found.get((table, key["pk"]["S"], key["sk"]["S"]), 0) for table, key in items]
