"""The SAM template translates and lints clean, and says what the deployment relies on.

The content tests read the translated CloudFormation, because that is what is deployed: a
property SAM drops or rewrites would pass a test on the source template and still be wrong.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cis.services.invites import DEADLINE_RESERVE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SCRIPT = ROOT / "scripts" / "check_template.py"


def _load_script() -> ModuleType:
    # scripts/ is not a package; load the checker by path.
    spec = importlib.util.spec_from_file_location("check_template", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check_template = _load_script()


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    result: dict[str, Any] = check_template.load_template(TEMPLATE)
    return result


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    result: dict[str, Any] = check_template.translate_file(TEMPLATE)
    return result


def _resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def _only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = _resources_of_type(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource


def _resolve(value: Any, template: dict[str, Any]) -> Any:
    """Resolve the intrinsics the template uses for numbers: parameter defaults and mappings."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = template["Parameters"][value["Ref"]]
        return parameter["Default"]
    if isinstance(value, dict) and set(value) == {"Fn::FindInMap"}:
        name, first, second = (_resolve(part, template) for part in value["Fn::FindInMap"])
        return template["Mappings"][name][str(first)][second]
    return value


def _ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


def _function(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    function: dict[str, Any] = template["Resources"][logical_id]
    assert function["Type"] == "AWS::Lambda::Function"
    return function


def _event_source(template: dict[str, Any], function_id: str) -> dict[str, Any]:
    """The one SQS event source mapping that invokes `function_id`."""
    mappings = [
        mapping
        for mapping in _resources_of_type(template, "AWS::Lambda::EventSourceMapping").values()
        if _ref_target(mapping["Properties"]["FunctionName"]) == function_id
    ]
    assert len(mappings) == 1, f"expected one event source for {function_id}"
    return mappings[0]


def _function_statements(template: dict[str, Any], function_id: str) -> Iterator[dict[str, Any]]:
    function = _function(template, function_id)
    role_id = _ref_target(function["Properties"]["Role"])
    role = template["Resources"][role_id]
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        yield from statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_template_translates_and_lints_without_errors_or_warnings() -> None:
    assert check_template.check(TEMPLATE) == []


def test_the_sqs_event_source_reports_partial_batch_failures_and_caps_concurrency(
    translated: dict[str, Any],
) -> None:
    properties = _event_source(translated, "InviteFunction")["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _ref_target(properties["EventSourceArn"]) == "InviteQueue"
    concurrency = _resolve(properties["ScalingConfig"]["MaximumConcurrency"], translated)
    assert 2 <= int(concurrency) <= 1000
    assert int(_resolve(properties["BatchSize"], translated)) <= 10


def test_the_queue_visibility_timeout_is_at_least_six_function_timeouts_plus_batching_window(
    translated: dict[str, Any],
) -> None:
    function = _function(translated, "InviteFunction")
    mapping = _event_source(translated, "InviteFunction")
    queue = translated["Resources"]["InviteQueue"]
    window = int(mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0))
    timeout = int(_resolve(function["Properties"]["Timeout"], translated))
    visibility = int(_resolve(queue["Properties"]["VisibilityTimeout"], translated))
    assert visibility >= 6 * timeout + window


def test_every_allowed_function_timeout_maps_to_a_long_enough_visibility_timeout(
    translated: dict[str, Any],
) -> None:
    # The defaults alone would miss a deploy that picks another FunctionTimeout.
    mapping = _event_source(translated, "InviteFunction")
    window = int(mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0))
    allowed = translated["Parameters"]["FunctionTimeout"]["AllowedValues"]
    settings = translated["Mappings"]["FunctionTimeoutSettings"]
    assert allowed, "FunctionTimeout must be limited to values the mapping covers"
    for timeout in allowed:
        visibility = int(settings[str(timeout)]["VisibilityTimeout"])
        assert visibility >= 6 * int(timeout) + window
        assert visibility <= 43200  # the SQS maximum


def test_the_claim_lease_outlives_an_invocation_and_expires_before_the_last_receive(
    translated: dict[str, Any],
) -> None:
    # Shorter than the function timeout, a live claim could be taken over (a second invite);
    # longer than the receives allow, a crashed claim sends its message to the dead letters.
    function = _function(translated, "InviteFunction")
    variables = function["Properties"]["Environment"]["Variables"]
    lease_ref = variables["CLAIM_LEASE_SECONDS"]["Fn::FindInMap"]
    assert lease_ref[0] == "FunctionTimeoutSettings"
    max_receives = int(
        translated["Resources"]["InviteQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    )
    settings = translated["Mappings"]["FunctionTimeoutSettings"]
    for timeout in translated["Parameters"]["FunctionTimeout"]["AllowedValues"]:
        row = settings[str(timeout)]
        lease = int(row[lease_ref[2]])
        assert int(timeout) < lease <= (max_receives - 1) * int(row["VisibilityTimeout"])


def test_the_redrive_policy_sends_poison_messages_to_the_dead_letter_queue(
    translated: dict[str, Any],
) -> None:
    redrive = translated["Resources"]["InviteQueue"]["Properties"]["RedrivePolicy"]
    assert _ref_target(redrive["deadLetterTargetArn"]) == "InviteDeadLetterQueue"
    assert 2 <= int(redrive["maxReceiveCount"]) <= 10
    dead_letter = translated["Resources"]["InviteDeadLetterQueue"]["Properties"]
    source_retention = translated["Resources"]["InviteQueue"]["Properties"].get(
        "MessageRetentionPeriod", 345600
    )
    assert int(dead_letter["MessageRetentionPeriod"]) == 14 * 24 * 3600
    assert int(dead_letter["MessageRetentionPeriod"]) > int(source_retention)


def test_the_table_has_string_keys_on_demand_billing_and_point_in_time_recovery(
    translated: dict[str, Any],
) -> None:
    _, table = _only(translated, "AWS::DynamoDB::Table")
    properties = table["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    definitions = properties["AttributeDefinitions"]
    types = {item["AttributeName"]: item["AttributeType"] for item in definitions}
    assert types == {"pk": "S", "sk": "S"}
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_dynamodb_permissions_cover_the_invite_table_only(translated: dict[str, Any]) -> None:
    dynamodb_statements = [
        statement
        for statement in _function_statements(translated, "InviteFunction")
        if any(str(action).startswith("dynamodb:") for action in _as_list(statement["Action"]))
    ]
    assert dynamodb_statements, "the function needs DynamoDB item permissions"
    granted: set[str] = set()
    for statement in dynamodb_statements:
        actions = _as_list(statement["Action"])
        assert all(str(action).startswith("dynamodb:") for action in actions)
        assert "*" not in "".join(actions)
        granted.update(actions)
        resources = _as_list(statement["Resource"])
        assert [_ref_target(resource) for resource in resources] == ["InviteTable"]
        assert all("Fn::GetAtt" in resource for resource in resources)
    # TransactWriteItems is authorised per item, so these are what a claim and settle need.
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"} <= granted
    assert "dynamodb:Scan" not in granted
    assert "dynamodb:DeleteItem" not in granted


def test_ses_permissions_name_the_sender_identity_and_no_wildcard(
    translated: dict[str, Any],
) -> None:
    ses_statements = [
        statement
        for statement in _function_statements(translated, "InviteFunction")
        if any(str(action).startswith("ses:") for action in _as_list(statement["Action"]))
    ]
    assert ses_statements, "the function needs permission to send through SES"
    for statement in ses_statements:
        assert set(_as_list(statement["Action"])) <= {"ses:SendEmail", "ses:SendRawEmail"}
        for resource in _as_list(statement["Resource"]):
            text = repr(resource)
            assert resource != "*"
            assert "identity/${SenderIdentity}" in text or "configuration-set/" in text


@pytest.mark.parametrize(("function_id", "log_group", "queue", "sends"), [
    # The invite function's fan-outs put their per-attendee messages on its own queue.
    ("InviteFunction", "InviteLogGroup", "InviteQueue", {"sqs:SendMessage"}),
    ("RsvpFunction", "RsvpLogGroup", "RsvpQueue", set()),
])
def test_each_function_writes_only_its_own_logs_and_uses_only_its_own_queue(
    translated: dict[str, Any], function_id: str, log_group: str, queue: str, sends: set[str],
) -> None:
    function = _function(translated, function_id)
    role = translated["Resources"][_ref_target(function["Properties"]["Role"])]
    # No AWS managed policy: those SAM would attach grant log and queue actions on "*".
    assert not role["Properties"].get("ManagedPolicyArns")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }]
    statements = list(_function_statements(translated, function_id))
    for service, owned in (("logs", log_group), ("sqs", queue)):
        granted = [s for s in statements
                   if any(str(a).startswith(f"{service}:") for a in _as_list(s["Action"]))]
        assert granted, f"{function_id} needs {service} permissions"
        for statement in granted:
            assert all(str(a).startswith(f"{service}:") for a in _as_list(statement["Action"]))
            assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [owned, "Arn"]}]
    sqs_actions = {a for s in statements for a in _as_list(s["Action"]) if a.startswith("sqs:")}
    # What the Lambda event source needs to poll, and DeleteMessage for `raise` mode.
    assert sqs_actions == {"sqs:ReceiveMessage", "sqs:DeleteMessage",
                           "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", *sends}


def test_the_function_gets_the_environment_it_reads(translated: dict[str, Any]) -> None:
    function = _function(translated, "InviteFunction")
    properties = function["Properties"]
    variables = properties["Environment"]["Variables"]
    assert {
        "REGION",
        "DYNAMODB_TABLE",
        "SENDER",
        "RSVP_EMAIL",
        "SQS_URL",
        "BATCH_FAILURE_MODE",
        "SES_CONFIGURATION_SET",
        "LOG_LEVEL",
        "CLAIM_LEASE_SECONDS",
        "MAX_SEND_RATE",
        "MAX_CONCURRENCY",
    } <= set(variables)
    assert variables["BATCH_FAILURE_MODE"] == "report"
    assert _ref_target(variables["MAX_SEND_RATE"]) == "MaxSendRate"
    # The same figure the event source is capped at: the invocations share the rate evenly.
    assert _ref_target(variables["MAX_CONCURRENCY"]) == "MaxConcurrency"
    scaling = _event_source(translated, "InviteFunction")["Properties"]["ScalingConfig"]
    assert _ref_target(scaling["MaximumConcurrency"]) == "MaxConcurrency"
    assert _ref_target(variables["DYNAMODB_TABLE"]) == "InviteTable"
    assert _ref_target(variables["SQS_URL"]) == "InviteQueue"
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "cis.lambda_handler.lambda_handler"


def test_the_send_rate_defaults_to_the_ses_sandbox_rate(source: dict[str, Any]) -> None:
    rate = source["Parameters"]["MaxSendRate"]
    assert (rate["Type"], rate["Default"], rate["MinValue"]) == ("Number", 1, 0)


def test_a_full_batch_at_the_default_pace_fits_an_invocation_with_time_to_record_it(
    source: dict[str, Any],
) -> None:
    defaults = {name: source["Parameters"][name]["Default"]
                for name in ("MaxSendRate", "MaxConcurrency", "BatchSize", "FunctionTimeout")}
    seconds_per_batch = (defaults["BatchSize"] * defaults["MaxConcurrency"]
                         / defaults["MaxSendRate"])
    assert seconds_per_batch < defaults["FunctionTimeout"] - DEADLINE_RESERVE


def test_the_invite_function_may_pause_only_its_own_event_source(
    translated: dict[str, Any],
) -> None:
    policies = [policy for policy in _resources_of_type(translated, "AWS::IAM::Policy").values()
                if "InviteFunctionRole" in [_ref_target(role)
                                            for role in policy["Properties"]["Roles"]]]
    assert len(policies) == 1
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    by_action = {statement["Action"]: statement for statement in statements}
    assert set(by_action) == {"lambda:ListEventSourceMappings", "lambda:UpdateEventSourceMapping"}
    update = by_action["lambda:UpdateEventSourceMapping"]
    assert "event-source-mapping:*" in json.dumps(update["Resource"])
    condition = update["Condition"]["StringEquals"]["lambda:FunctionArn"]
    assert _ref_target(condition) == "InviteFunction"
    assert by_action["lambda:ListEventSourceMappings"]["Resource"] == "*"


@pytest.mark.parametrize(
    "dead_letter_queue",
    ["InviteDeadLetterQueue", "RsvpDeadLetterQueue", "FeedbackDeadLetterQueue"])
def test_an_alarm_fires_when_anything_reaches_a_dead_letter_queue(
    translated: dict[str, Any], dead_letter_queue: str
) -> None:
    alarms = _resources_of_type(translated, "AWS::CloudWatch::Alarm").values()
    watching_dlq = [
        alarm["Properties"]
        for alarm in alarms
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and any(
            _ref_target(dimension["Value"]) == dead_letter_queue
            for dimension in alarm["Properties"].get("Dimensions", [])
        )
    ]
    assert len(watching_dlq) == 1
    alarm = watching_dlq[0]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert float(alarm["Threshold"]) == 0


def test_the_outputs_name_the_queues_the_table_and_the_function(source: dict[str, Any]) -> None:
    targets = {_ref_target(output["Value"]) for output in source["Outputs"].values()}
    assert {"InviteQueue", "InviteDeadLetterQueue", "InviteTable", "InviteFunction"} <= targets


# --- Replies (RSVP): SES -> S3 -> SQS -> RsvpFunction ------------------------------------------


def _rsvp_statements(translated: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """The RSVP function's own statements granting any action of `service` (e.g. "s3")."""
    return [
        statement
        for statement in _function_statements(translated, "RsvpFunction")
        if any(str(action).startswith(f"{service}:") for action in _as_list(statement["Action"]))
    ]


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(policy["Properties"]["PolicyDocument"]["Statement"])


def _receipt_rule_name(translated: dict[str, Any]) -> Any:
    return translated["Resources"]["RsvpReceiptRule"]["Properties"]["Rule"]["Name"]


def test_the_rsvp_event_source_reports_batch_item_failures(translated: dict[str, Any]) -> None:
    properties = _event_source(translated, "RsvpFunction")["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _ref_target(properties["EventSourceArn"]) == "RsvpQueue"
    assert int(_resolve(properties["BatchSize"], translated)) <= 10


def test_the_rsvp_function_runs_the_rsvp_handler_with_the_environment_it_reads(
    translated: dict[str, Any],
) -> None:
    properties = _function(translated, "RsvpFunction")["Properties"]
    assert properties["Handler"] == "cis.lambda_handler.rsvp_handler"
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    variables = properties["Environment"]["Variables"]
    assert {"REGION", "DYNAMODB_TABLE", "LOG_LEVEL"} <= set(variables)
    assert variables["REGION"] == {"Ref": "AWS::Region"}
    assert _ref_target(variables["DYNAMODB_TABLE"]) == "InviteTable"
    log_group = properties["LoggingConfig"]["LogGroup"]
    assert _ref_target(log_group) == "RsvpLogGroup"
    assert translated["Resources"]["RsvpLogGroup"]["Type"] == "AWS::Logs::LogGroup"


def test_the_rsvp_function_may_read_objects_only_under_the_receipt_prefix_of_its_bucket(
    translated: dict[str, Any],
) -> None:
    statements = _rsvp_statements(translated, "s3")
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["s3:GetObject"]
    # One object ARN: that bucket, that prefix; no "*" bucket, no bucket-level ARN.
    assert _as_list(statement["Resource"]) == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${RsvpMailBucket}/${RsvpMailPrefix}*"}
    ]
    prefix = translated["Parameters"]["RsvpMailPrefix"]
    assert prefix["AllowedPattern"].endswith("/)+$"), "the prefix must end at a folder"


def test_the_rsvp_function_is_granted_nothing_but_replies_the_table_its_logs_and_queue(
    translated: dict[str, Any],
) -> None:
    for statement in _function_statements(translated, "RsvpFunction"):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            assert str(action).split(":")[0] in {"s3", "dynamodb", "logs", "sqs"}, action
            assert "*" not in str(action)
        assert "*" not in _as_list(statement["Resource"])


def test_the_rsvp_function_updates_attendees_and_puts_only_counting_markers(
    translated: dict[str, Any],
) -> None:
    statements = _rsvp_statements(translated, "dynamodb")
    assert statements, "the RSVP function needs to read and update attendees"
    granted: set[str] = set()
    for statement in statements:
        actions = set(_as_list(statement["Action"]))
        granted |= actions
        assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": ["InviteTable", "Arn"]}]
        if "dynamodb:PutItem" in actions:
            # Put is for the counted#<digest> markers only: never an attendee or statistics.
            assert actions == {"dynamodb:PutItem"}
            assert statement["Condition"] == {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["counted#*"]}}
        else:
            assert "Condition" not in statement
    # get_attendee is a GetItem; apply_reply and apply_statistics are UpdateItem calls or a
    # TransactWriteItems of Update actions, which IAM authorises as UpdateItem.
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"} <= granted
    assert granted <= {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query",
                       "dynamodb:PutItem"}


def test_counting_markers_expire_by_the_tables_ttl_and_nothing_else_does(
    translated: dict[str, Any],
) -> None:
    from cis.adapters import dynamodb

    ttl = translated["Resources"]["InviteTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": dynamodb.MARKER_EXPIRY_ATTRIBUTE, "Enabled": True}
    # Attendee items are written only with these attributes; none of them is the TTL's.
    assert dynamodb.MARKER_EXPIRY_ATTRIBUTE not in dynamodb._ATTRIBUTES


def test_the_reply_bucket_blocks_public_access_enforces_ownership_and_is_encrypted(
    translated: dict[str, Any],
) -> None:
    properties = translated["Resources"]["RsvpMailBucket"]["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_the_reply_bucket_refuses_requests_without_tls(translated: dict[str, Any]) -> None:
    denials = [
        statement
        for statement in _statements(translated["Resources"]["RsvpMailBucketPolicy"])
        if statement["Effect"] == "Deny"
    ]
    assert len(denials) == 1
    (deny,) = denials
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    resources = _as_list(deny["Resource"])
    assert {"Fn::GetAtt": ["RsvpMailBucket", "Arn"]} in resources
    assert {"Fn::Sub": "${RsvpMailBucket.Arn}/*"} in resources


def test_only_ses_of_this_account_may_store_mail_and_only_under_the_prefix(
    translated: dict[str, Any],
) -> None:
    allowed = [
        statement
        for statement in _statements(translated["Resources"]["RsvpMailBucketPolicy"])
        if statement["Effect"] == "Allow"
    ]
    assert len(allowed) == 1
    (allow,) = allowed
    assert allow["Principal"] == {"Service": "ses.amazonaws.com"}
    assert _as_list(allow["Action"]) == ["s3:PutObject"]
    assert _as_list(allow["Resource"]) == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${RsvpMailBucket}/${RsvpMailPrefix}*"}
    ]
    assert allow["Condition"]["StringEquals"] == {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "AWS:SourceArn" in allow["Condition"]["ArnLike"]


def test_the_bucket_policy_names_the_stacks_own_receipt_rule_when_it_creates_one(
    translated: dict[str, Any],
) -> None:
    (allow,) = [
        statement
        for statement in _statements(translated["Resources"]["RsvpMailBucketPolicy"])
        if statement["Effect"] == "Allow"
    ]
    condition, own_rule, _any_rule = allow["Condition"]["ArnLike"]["AWS:SourceArn"]["Fn::If"]
    assert condition == "CreatesReceiptRule"
    template, variables = own_rule["Fn::Sub"]
    rule_template, rule_variables = _receipt_rule_name(translated)["Fn::Sub"]
    assert template.endswith(f":receipt-rule/{rule_template}")
    assert {name: variables[name] for name in rule_variables} == rule_variables
    rule = translated["Resources"]["RsvpReceiptRule"]["Properties"]
    assert variables["RuleSet"] == rule["RuleSetName"]


def test_the_reply_bucket_notifies_the_rsvp_queue_of_new_objects_under_the_prefix(
    translated: dict[str, Any],
) -> None:
    bucket = translated["Resources"]["RsvpMailBucket"]
    notifications = bucket["Properties"]["NotificationConfiguration"]
    assert set(notifications) == {"QueueConfigurations"}
    (queue_configuration,) = notifications["QueueConfigurations"]
    assert queue_configuration["Event"] == "s3:ObjectCreated:*"
    assert queue_configuration["Queue"] == {"Fn::GetAtt": ["RsvpQueue", "Arn"]}
    assert queue_configuration["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": {"Ref": "RsvpMailPrefix"}}
    ]
    # S3 tests the destination when it saves the notification: the policy must exist first.
    assert "RsvpQueuePolicy" in _as_list(bucket["DependsOn"])


def test_the_rsvp_queue_accepts_messages_only_from_s3_for_the_reply_bucket(
    translated: dict[str, Any],
) -> None:
    policy = translated["Resources"]["RsvpQueuePolicy"]
    assert policy["Properties"]["Queues"] == [{"Ref": "RsvpQueue"}]
    (statement,) = [s for s in _statements(policy) if s["Effect"] == "Allow"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert _as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert statement["Resource"] == {"Fn::GetAtt": ["RsvpQueue", "Arn"]}
    assert statement["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    # The ARN is written out (a GetAtt of the bucket would be a circular dependency), so it
    # must spell the bucket's own name.
    arn_template, arn_variables = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    bucket_name = translated["Resources"]["RsvpMailBucket"]["Properties"]["BucketName"]
    name_template, name_variables = bucket_name["Fn::Sub"]
    assert arn_template == "arn:${AWS::Partition}:s3:::" + name_template
    assert arn_variables == name_variables


def test_the_reply_bucket_name_is_lowercase_and_short_enough_for_s3(
    translated: dict[str, Any],
) -> None:
    name_template, variables = translated["Resources"]["RsvpMailBucket"]["Properties"][
        "BucketName"
    ]["Fn::Sub"]
    # The only variable is the stack id's UUID: 36 lowercase hexadecimal digits and hyphens.
    assert variables == {
        "StackUuid": {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    }
    example = name_template.replace("${StackUuid}", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
    assert "${" not in example
    assert example == example.lower()
    assert 3 <= len(example) <= 63


def test_the_receipt_rule_stores_mail_for_the_rsvp_address_under_the_prefix(
    translated: dict[str, Any],
) -> None:
    resource = translated["Resources"]["RsvpReceiptRule"]
    assert resource["Condition"] == "CreatesReceiptRule"
    assert "RsvpMailBucketPolicy" in _as_list(resource["DependsOn"])
    rule = resource["Properties"]["Rule"]
    assert rule["Enabled"] is True
    assert rule["Recipients"] == [{"Ref": "RsvpEmail"}]
    assert rule["ScanEnabled"] is True
    assert rule["TlsPolicy"] == "Optional"
    assert rule["Actions"] == [
        {
            "S3Action": {
                "BucketName": {"Ref": "RsvpMailBucket"},
                "ObjectKeyPrefix": {"Ref": "RsvpMailPrefix"},
            }
        }
    ]


def test_a_receipt_rule_set_is_created_only_when_the_rule_is_and_no_set_is_named(
    translated: dict[str, Any],
) -> None:
    assert translated["Resources"]["RsvpReceiptRuleSet"]["Condition"] == "CreatesReceiptRuleSet"
    assert translated["Conditions"]["CreatesReceiptRuleSet"] == {
        "Fn::And": [
            {"Condition": "CreatesReceiptRule"},
            {"Fn::Equals": [{"Ref": "ReceiptRuleSetName"}, ""]},
        ]
    }
    assert translated["Conditions"]["CreatesReceiptRule"] == {
        "Fn::Equals": [{"Ref": "CreateReceiptRule"}, "true"]
    }
    rule_set = translated["Resources"]["RsvpReceiptRule"]["Properties"]["RuleSetName"]
    assert rule_set == {
        "Fn::If": [
            "CreatesReceiptRuleSet",
            {"Ref": "RsvpReceiptRuleSet"},
            {"Ref": "ReceiptRuleSetName"},
        ]
    }


def test_received_mail_expires_under_the_prefix_but_outlives_its_dead_letters(
    translated: dict[str, Any],
) -> None:
    (rule,) = translated["Resources"]["RsvpMailBucket"]["Properties"]["LifecycleConfiguration"][
        "Rules"
    ]
    assert rule["Status"] == "Enabled"
    assert rule["Prefix"] == {"Ref": "RsvpMailPrefix"}
    assert rule["ExpirationInDays"] == {"Ref": "RsvpMailRetentionDays"}
    # A redriven notification must still find its message.
    shortest = int(translated["Parameters"]["RsvpMailRetentionDays"]["MinValue"])
    dead_letter = translated["Resources"]["RsvpDeadLetterQueue"]["Properties"]
    assert shortest * 24 * 3600 >= int(dead_letter["MessageRetentionPeriod"])


def test_the_rsvp_queue_visibility_is_at_least_six_rsvp_function_timeouts(
    translated: dict[str, Any],
) -> None:
    function = _function(translated, "RsvpFunction")
    mapping = _event_source(translated, "RsvpFunction")
    queue = translated["Resources"]["RsvpQueue"]["Properties"]
    window = int(mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0))
    timeout = int(_resolve(function["Properties"]["Timeout"], translated))
    assert int(_resolve(queue["VisibilityTimeout"], translated)) >= 6 * timeout + window


def test_the_rsvp_queue_sends_poison_messages_to_its_own_dead_letter_queue(
    translated: dict[str, Any],
) -> None:
    redrive = translated["Resources"]["RsvpQueue"]["Properties"]["RedrivePolicy"]
    assert _ref_target(redrive["deadLetterTargetArn"]) == "RsvpDeadLetterQueue"
    assert int(redrive["maxReceiveCount"]) == 5
    for queue_id in ("RsvpQueue", "RsvpDeadLetterQueue"):
        assert translated["Resources"][queue_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_the_outputs_name_the_rsvp_queues_bucket_and_function(source: dict[str, Any]) -> None:
    outputs = source["Outputs"]
    expected = {
        "RsvpQueueUrl": "RsvpQueue",
        "RsvpDeadLetterQueueUrl": "RsvpDeadLetterQueue",
        "RsvpMailBucketName": "RsvpMailBucket",
        "RsvpFunctionArn": "RsvpFunction",
    }
    for name, target in expected.items():
        assert _ref_target(outputs[name]["Value"]) == target, name


def _copy_with(tmp_path: Path, old: str, new: str) -> Path:
    """Write a copy of the template elsewhere, changing one line; CodeUri stays valid."""
    text = TEMPLATE.read_text(encoding="utf-8")
    code_uri = "CodeUri: src/"
    assert code_uri in text
    text = text.replace(code_uri, f"CodeUri: {ROOT / 'src'}/")
    if old:
        assert text.count(old) == 1, f"{old!r} must occur once in the template"
        text = text.replace(old, new)
    copy = tmp_path / "template.yaml"
    copy.write_text(text, encoding="utf-8")
    return copy


def test_an_unchanged_copy_elsewhere_is_clean_so_faults_below_come_from_the_edit(
    tmp_path: Path,
) -> None:
    assert check_template.check(_copy_with(tmp_path, "", "")) == []


def test_an_invalid_function_response_type_is_reported(tmp_path: Path) -> None:
    broken = _copy_with(
        tmp_path,
        "- ReportBatchItemFailures\n            ScalingConfig:",
        "- Nonsense\n            ScalingConfig:",
    )
    problems = check_template.check(broken)
    assert any("Nonsense" in problem for problem in problems), problems


def test_a_reference_to_a_missing_resource_is_reported(tmp_path: Path) -> None:
    broken = _copy_with(tmp_path, "SQS_URL: !Ref InviteQueue", "SQS_URL: !Ref MissingQueue")
    problems = check_template.check(broken)
    assert any("MissingQueue" in problem for problem in problems), problems


def test_a_handler_module_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    broken = _copy_with(
        tmp_path,
        "Handler: cis.lambda_handler.lambda_handler",
        "Handler: cis.no_such_module.lambda_handler",
    )
    problems = check_template.check(broken)
    assert any("cis.no_such_module" in problem for problem in problems), problems
