"""Each function's role allows exactly the calls its code makes: no more, no fewer.

Every AWS call the functions' code makes while handling batches that take each of its paths
(on moto's server over HTTP) is recorded at botocore's `_make_api_call` and turned into the
IAM action that authorises it; the role in the translated template must grant exactly those,
plus what the Lambda service does with the role (poll the event source, write the logs).
"""

from __future__ import annotations

import contextlib
import io
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from cis.adapters.sqs import SqsInviteQueue
from cis.domain.model import EventStatus, FanOut, InviteAction, Invitee, InviteRequest, Resend
from cis.errors import BatchIncompleteError
from cis.lambda_handler import (
    LambdaRuntime,
    aws_feedback_runtime,
    aws_rsvp_runtime,
    aws_runtime,
    make_feedback_handler,
    make_handler,
    make_rsvp_handler,
)
from cis.messages.invite_format import encode_message
from cis.services.producer import enqueue_invites
from tests.e2e.test_feedback_on_moto import Reports, about, tagged_sends
from tests.e2e.test_lambda_on_moto import Stack, enqueue, lambda_event, receive, stack
from tests.e2e.test_rsvp_on_moto import BUCKET_PREFIX, deployed, drain, invite_ann
from tests.integration.test_template import _function_statements, _resources_of_type, translated
from tests.replies import reply_calendar, reply_email, with_headers

__all__ = ["deployed", "stack", "translated"]  # the fixtures, shared

#: What the Lambda service does with a function's role: poll its SQS event source and write
#: its logs. The code makes none of these calls itself (DeleteMessage aside, in `raise` mode).
EVENT_SOURCE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes", "logs:CreateLogStream", "logs:PutLogEvents"}

_TRANSACT_ITEM_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem",
                          "Delete": "dynamodb:DeleteItem",
                          "ConditionCheck": "dynamodb:ConditionCheckItem"}
_ACTION_OF_OPERATION = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sesv2", "SendEmail"): "ses:SendEmail",
    ("s3", "HeadObject"): "s3:GetObject",
    ("dynamodb", "TransactGetItems"): "dynamodb:GetItem",
}


def iam_actions(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions that authorise one API call."""
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        return {_TRANSACT_ITEM_ACTIONS[kind] for item in params["TransactItems"] for kind in item}
    prefix = {"sesv2": "ses"}.get(service, service)
    return {_ACTION_OF_OPERATION.get((service, operation), f"{prefix}:{operation}")}


class Calls:
    """Every AWS call made while `recording`, as IAM actions."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.on = False

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        self.on = True
        try:
            yield
        finally:
            self.on = False


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    record = Calls()
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if record.on:
            service = client.meta.service_model.service_name
            record.actions |= iam_actions(service, operation, params)
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return record


def granted(template: dict[str, Any], function_id: str) -> set[str]:
    """Every action the function's role allows, from its own policies and attached ones."""
    role_id = template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = list(_function_statements(template, function_id))
    for policy in _resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found = policy["Properties"]["PolicyDocument"]["Statement"]
            statements += found if isinstance(found, list) else [found]
    actions: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        found = statement["Action"]
        actions |= set(found if isinstance(found, list) else [found])
    return actions


def function_with_event_source(moto_server: str, region: str) -> str:
    """A function (never invoked) with an enabled SQS event source of its own; its name.

    Its queue stays empty: moto would try to run the function for each message on it.
    """
    lam, iam, sqs = (boto3.client(name, endpoint_url=moto_server, region_name=region)
                     for name in ("lambda", "iam", "sqs"))
    name = f"invites-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "def handler(event, context):\n    return None\n")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                        Handler="handler.handler", Code={"ZipFile": archive.getvalue()})
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue,
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)
    return name


def message(message_id: str, body: str) -> dict[str, Any]:
    """A queue message as SQS returns it, for a body put in the event by hand."""
    return {"MessageId": message_id, "ReceiptHandle": f"r-{message_id}", "Body": body,
            "MD5OfBody": ""}


def refuse_every_send(runtime: LambdaRuntime) -> None:
    """SES refuses every send for the whole account, as when sending is paused."""
    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "SendingPausedException",
                                     "Message": "Sending is paused for this account."},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendEmail")

    mailer: Any = runtime.service.mailer
    mailer.client.meta.events.register("before-call.sesv2.SendEmail", refuse)


def invite_paths(stack: Stack, handler: Callable[..., Any]) -> Iterator[Callable[[], None]]:
    """Batches that take each of the invite function's paths, one at a time."""
    queue = SqsInviteQueue(queue_url=stack.queue_url, client=stack.sqs)
    event, guests = stack.event, [Invitee(f"guest{n}@example.org") for n in range(3)]

    def first_invitations_a_repeat_and_a_broken_body() -> None:
        enqueue_invites(queue, event, [*guests, Invitee("GUEST0@example.org")])
        messages = [*receive(stack, 4), message("broken", '{"request": {}}')]
        handler(lambda_event(stack, messages), None)

    def a_fan_out_onto_the_queue_and_its_messages() -> None:
        moved = replace(event, sequence=1)
        handler(lambda_event(stack, [message("fan-out", encode_message(FanOut(moved)))]), None)
        handler(lambda_event(stack, receive(stack, len(guests))), None)

    def a_resend_a_removal_of_no_one_and_a_cancellation() -> None:
        cancelled = replace(event, sequence=2, status=EventStatus.CANCELLED)
        never_sent = InviteRequest(replace(event, sequence=2), Invitee("nobody@example.org"),
                                   InviteAction.REMOVE)
        handler(lambda_event(stack, [
            message("resend", encode_message(Resend(event.uid, guests[0].email))),
            message("remove", encode_message(never_sent)),
            message("cancel", encode_message(FanOut(cancelled)))]), None)
        handler(lambda_event(stack, receive(stack, len(guests))), None)

    yield first_invitations_a_repeat_and_a_broken_body
    yield a_fan_out_onto_the_queue_and_its_messages
    yield a_resend_a_removal_of_no_one_and_a_cancellation


def test_the_invite_role_allows_exactly_the_calls_the_invite_function_makes(
    stack: Stack, translated: dict[str, Any], calls: Calls, moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = make_handler(aws_runtime)
    for path in invite_paths(stack, handler):
        with calls.recording():
            path()
    # `raise` mode deletes what it handled; a refusal for the whole account pauses intake.
    monkeypatch.setenv("BATCH_FAILURE_MODE", "raise")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME",
                       function_with_event_source(moto_server, stack.region))
    stack.setups.append(refuse_every_send)
    another = replace(stack.event, uid=f"{stack.event.uid}-2")
    enqueue_invites(SqsInviteQueue(queue_url=stack.queue_url, client=stack.sqs),
                    another, [Invitee("late@example.org"), Invitee("later@example.org")])
    with calls.recording(), pytest.raises(BatchIncompleteError):
        stack.handler()(lambda_event(stack, receive(stack, 2)), None)

    assert granted(translated, "InviteFunction") == calls.actions | EVENT_SOURCE


def test_the_rsvp_role_allows_exactly_the_calls_the_rsvp_function_makes(
    deployed: dict[str, Any], translated: dict[str, Any], calls: Calls,
) -> None:
    sqs, s3, repository = deployed["sqs"], deployed["s3"], deployed["repository"]
    invite_ann(repository)
    accepted = reply_email(reply_calendar("ann@example.org", "ACCEPTED"))
    replies = [accepted, accepted,  # applied, then a duplicate
               reply_email(reply_calendar("ann@example.org", "DECLINED"),
                           sender="mallory@example.net"),  # rejected: counted once
               with_headers(accepted, "X-SES-Spam-Verdict", "FAIL"),
               reply_email(None)]  # no calendar: ignored
    for number, raw in enumerate(replies):
        s3.put_object(Bucket=deployed["bucket"], Key=f"{BUCKET_PREFIX}lp-{number}", Body=raw)
    batch = drain(sqs, deployed["rsvp_queue"], len(replies) + 1)
    with calls.recording():
        assert make_rsvp_handler(aws_rsvp_runtime)(batch, None) == {"batchItemFailures": []}
    assert granted(translated, "RsvpFunction") == calls.actions | EVENT_SOURCE


def test_the_feedback_role_allows_exactly_the_calls_the_feedback_function_makes(
    stack: Stack, translated: dict[str, Any], calls: Calls, moto_server: str,
) -> None:
    tags = tagged_sends(stack)
    enqueue(stack)
    stack.handler()(lambda_event(stack, receive(stack, 6)), None)
    reports = Reports(moto_server, stack.region)
    reports.publish(about(stack, "event-bounce", "dave@example.net", tags),
                    about(stack, "event-complaint", "erin@example.com", tags),
                    about(stack, "event-delivery", "ann@example.org", tags),
                    about(stack, "event-delivery-delay", "bob.stone@example.org", tags),
                    about(stack, "event-open", "ann@example.org", tags))
    batch = reports.batch(5)
    broken = {"messageId": "broken", "receiptHandle": "r", "body": "{not json"}
    batch["Records"].append(broken)
    feedback = make_feedback_handler(aws_feedback_runtime)
    with calls.recording():
        assert feedback(batch, None) == {"batchItemFailures": []}
        assert feedback(batch, None) == {"batchItemFailures": []}  # delivered again

    assert granted(translated, "FeedbackFunction") == calls.actions | EVENT_SOURCE
