"""Pausing the invite function's SQS event source on moto: the mapping is disabled."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from cis.adapters.lambda_intake import LambdaEventSourceIntake
from cis.errors import QueueError


def clients(moto_server: str, aws_region: str) -> dict[str, Any]:
    return {name: boto3.client(name, endpoint_url=moto_server, region_name=aws_region)
            for name in ("lambda", "sqs", "iam")}


@pytest.fixture
def function_with_queue(moto_server: str, aws_region: str) -> tuple[Any, str, str]:
    """A function (never invoked) with an enabled SQS event source; its client, name, UUID."""
    made = clients(moto_server, aws_region)
    name = f"invites-{uuid.uuid4().hex[:8]}"
    role = made["iam"].create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "def handler(event, context):\n    return None\n")
    made["lambda"].create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                   Handler="handler.handler",
                                   Code={"ZipFile": archive.getvalue()})
    queue = made["sqs"].create_queue(QueueName=name)["QueueUrl"]
    arn = made["sqs"].get_queue_attributes(QueueUrl=queue,
                                           AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = made["lambda"].create_event_source_mapping(EventSourceArn=arn, FunctionName=name,
                                                         BatchSize=10)
    return made["lambda"], name, mapping["UUID"]


def states(client: Any, name: str) -> list[str]:
    mappings = client.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    return [mapping["State"] for mapping in mappings]


def test_pausing_disables_the_functions_event_source(
    function_with_queue: tuple[Any, str, str],
) -> None:
    client, name, _ = function_with_queue
    assert states(client, name) == ["Enabled"]

    LambdaEventSourceIntake(function_name=name, client=client).pause("Daily quota exceeded")

    assert states(client, name) == ["Disabled"]


def test_pausing_an_already_paused_source_changes_nothing(
    function_with_queue: tuple[Any, str, str],
) -> None:
    client, name, uuid_ = function_with_queue
    client.update_event_source_mapping(UUID=uuid_, Enabled=False)
    calls: list[str] = []
    client.meta.events.register("before-call.lambda.*",
                                lambda model, **_: calls.append(model.name))

    LambdaEventSourceIntake(function_name=name, client=client).pause("again")

    assert calls == ["ListEventSourceMappings"]
    assert states(client, name) == ["Disabled"]


def test_a_refused_pause_is_a_queue_error_naming_the_function(aws_region: str) -> None:
    client = boto3.client("lambda", region_name=aws_region)
    with Stubber(client) as stubber:
        stubber.add_client_error("list_event_source_mappings",
                                 service_error_code="AccessDeniedException",
                                 http_status_code=403)
        with pytest.raises(QueueError, match=r"invites.*AccessDeniedException"):
            LambdaEventSourceIntake(function_name="invites", client=client).pause("why")
