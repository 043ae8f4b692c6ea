"""A moto server in a child process for load runs: one request at a time, cheap transactions.

`python bench/moto_load_server.py PORT` serves moto on 127.0.0.1:PORT, like `moto_server`
(bench/moto_process.py), with two differences that a load of thousands of invites needs:

- requests are answered one at a time, as tests/conftest.py does for its server: moto checks a
  condition and writes in separate steps, so two concurrent conditional writes could both
  pass, and a transaction copying a table while another request changes it fails with a 500;
- a TransactWriteItems keeps a copy of the items it writes, to put back if it is cancelled,
  where moto 5 deep-copies the whole table for each of its actions: about 20 microseconds per
  item stored, so 130 ms for a three-action transaction once an event of 2,000 attendees is
  stored, which would make moto, not the SES quota, set the pace. What a cancelled
  transaction leaves behind is the same; `check_rollback` holds that at the start of a run.

It also tells the load model (tests/load/aws_under_load.py) the size of every item a write
request writes, before and after the write, in the answer's `x-load-item-sizes` header (JSON:
one `[before, after]` per item, in bench/write_units.py's `written_items` order), measured
inside the same one-at-a-time step as the write. The model would otherwise read each item
back with a BatchGetItem, a third more requests for moto to answer.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

from moto_process import free_port
from write_units import item_size, written_items

__all__ = ["ITEM_SIZES_HEADER", "check_rollback", "free_port", "start_moto_for_load"]

ITEM_SIZES_HEADER = "x-load-item-sizes"
_MEASURED = frozenset({"TransactWriteItems", "UpdateItem", "PutItem", "DeleteItem",
                       "BatchWriteItem"})


def start_moto_for_load(port: int) -> subprocess.Popen[bytes]:
    """Start this module as a child process serving moto on `port`; wait until it answers."""
    server = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"moto server exited with status {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto server did not start")


def check_rollback(session: Any, endpoint: str, table: str) -> None:
    """Fail loudly unless a cancelled transaction leaves every item it touched as it was."""
    client = session.client("dynamodb", endpoint_url=endpoint)
    kept = {"pk": {"S": "rollback-check"}, "sk": {"S": "kept"}}
    created = {"pk": {"S": "rollback-check"}, "sk": {"S": "created"}}
    client.put_item(TableName=table, Item={**kept, "n": {"N": "1"}})
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": kept, "UpdateExpression": "SET n = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Update": {"TableName": table, "Key": created, "UpdateExpression": "SET n = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Update": {"TableName": table,
                        "Key": {"pk": {"S": "rollback-check"}, "sk": {"S": "absent"}},
                        "UpdateExpression": "SET n = :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                        "ConditionExpression": "attribute_exists(pk)"}},
        ])
    except client.exceptions.TransactionCanceledException:
        pass
    else:
        raise SystemExit("moto did not cancel a transaction whose condition failed")
    items = {item["sk"]["S"]: item for item in client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ConsistentRead=True,
        ExpressionAttributeValues={":pk": {"S": "rollback-check"}})["Items"]}
    if set(items) != {"kept"} or items["kept"]["n"] != {"N": "1"}:
        raise SystemExit(f"a cancelled transaction left its writes behind: {items}")
    client.delete_item(TableName=table, Key=kept)


def _copy_only_written_items() -> None:
    """Make moto's TransactWriteItems keep and restore only the items it writes."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _TablesByReference:
        """Stands in for `copy` inside moto.dynamodb.models: a table is not copied."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = _TablesByReference()  # type: ignore[assignment]
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        kept = []
        for action in transact_items:
            [(_, detail)] = action.items()
            table = self.tables.get(detail.get("TableName"))
            if table is None:
                continue
            attributes = detail.get("Key") or detail.get("Item") or {}
            if table.hash_key_attr not in attributes or (
                    table.range_key_attr and table.range_key_attr not in attributes):
                continue
            hash_value = DynamoType(attributes[table.hash_key_attr])
            range_value = (DynamoType(attributes[table.range_key_attr])
                           if table.range_key_attr else None)
            before = table.get_item(hash_value, range_value)
            kept.append((table, hash_value, range_value, copy.deepcopy(before)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(kept):
                table.delete_item(hash_value, range_value)
                if before is None:
                    continue
                if range_value is None:
                    table.items[hash_value] = before
                else:
                    table.items[hash_value][range_value] = before
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _one_at_a_time(app: Any) -> Any:
    lock = threading.Lock()

    def handle(environ: Any, start_response: Any) -> Any:
        with lock:
            # moto's responses are complete lists, so the work is done inside the call.
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            operation = target.rpartition(".")[2] if target.startswith("DynamoDB_") else ""
            if operation not in _MEASURED:
                return list(app(environ, start_response))
            return _measured(app, operation, environ, start_response)

    return handle


def _measured(app: Any, operation: str, environ: Any, start_response: Any) -> Any:
    """Answer a write request with the sizes of its items before and after it, in a header."""
    data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = BytesIO(data)
    items = [(table, key) for table, key, _ in written_items(operation, json.loads(data))]
    region = _region(str(environ.get("HTTP_AUTHORIZATION", "")))
    before = _sizes(region, items)
    answered: list[Any] = []

    def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answered[:] = [status, headers, exc_info]
        return lambda chunk: None

    body = list(app(environ, keep))
    status, headers, exc_info = answered
    sizes = json.dumps([list(pair) for pair in zip(before, _sizes(region, items), strict=True)])
    start_response(status, [*headers, (ITEM_SIZES_HEADER, sizes)], exc_info)
    return body


def _region(authorization: str) -> str:
    """The region of a SigV4 Authorization header's credential scope."""
    scope = authorization.partition("Credential=")[2].split(",")[0].split("/")
    return scope[2] if len(scope) > 2 else "us-east-1"


def _sizes(region: str, items: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][region]
    sizes = []
    for name, key in items:
        table = backend.tables.get(name)
        if table is None:
            sizes.append(0)
            continue
        stored = table.get_item(DynamoType(key[table.hash_key_attr]),
                                DynamoType(key[table.range_key_attr])
                                if table.range_key_attr else None)
        sizes.append(item_size(stored.to_json()["Attributes"]) if stored else 0)
    return sizes


def serve(port: int) -> None:
    """Serve moto on 127.0.0.1:`port` until killed."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    _copy_only_written_items()
    run_simple("127.0.0.1", port, _one_at_a_time(DomainDispatcherApplication(create_backend_app)),
               threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
