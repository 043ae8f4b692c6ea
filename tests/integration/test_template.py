"""The SAM template translates and lints clean, and says what the deployment relies on.

The content tests read the translated CloudFormation, because that is what is deployed: a
property SAM drops or rewrites would pass a test on the source template and still be wrong.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

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


def _function_statements(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    _, function = _only(template, "AWS::Lambda::Function")
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
    _, mapping = _only(translated, "AWS::Lambda::EventSourceMapping")
    properties = mapping["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert _ref_target(properties["EventSourceArn"]) == "InviteQueue"
    concurrency = _resolve(properties["ScalingConfig"]["MaximumConcurrency"], translated)
    assert 2 <= int(concurrency) <= 1000
    assert int(_resolve(properties["BatchSize"], translated)) <= 10


def test_the_queue_visibility_timeout_is_at_least_six_function_timeouts_plus_batching_window(
    translated: dict[str, Any],
) -> None:
    _, function = _only(translated, "AWS::Lambda::Function")
    _, mapping = _only(translated, "AWS::Lambda::EventSourceMapping")
    queue = translated["Resources"]["InviteQueue"]
    window = int(mapping["Properties"].get("MaximumBatchingWindowInSeconds", 0))
    timeout = int(_resolve(function["Properties"]["Timeout"], translated))
    visibility = int(_resolve(queue["Properties"]["VisibilityTimeout"], translated))
    assert visibility >= 6 * timeout + window


def test_every_allowed_function_timeout_maps_to_a_long_enough_visibility_timeout(
    translated: dict[str, Any],
) -> None:
    # The defaults alone would miss a deploy that picks another FunctionTimeout.
    _, mapping = _only(translated, "AWS::Lambda::EventSourceMapping")
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
    _, function = _only(translated, "AWS::Lambda::Function")
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
        for statement in _function_statements(translated)
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
        for statement in _function_statements(translated)
        if any(str(action).startswith("ses:") for action in _as_list(statement["Action"]))
    ]
    assert ses_statements, "the function needs permission to send through SES"
    for statement in ses_statements:
        assert set(_as_list(statement["Action"])) <= {"ses:SendEmail", "ses:SendRawEmail"}
        for resource in _as_list(statement["Resource"]):
            text = repr(resource)
            assert resource != "*"
            assert "identity/${SenderIdentity}" in text or "configuration-set/" in text


def test_the_only_managed_policies_are_the_ones_sam_attaches_for_logs_and_sqs_polling(
    translated: dict[str, Any],
) -> None:
    _, function = _only(translated, "AWS::Lambda::Function")
    role = translated["Resources"][_ref_target(function["Properties"]["Role"])]
    assert set(role["Properties"].get("ManagedPolicyArns", [])) <= {
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    }


def test_the_function_gets_the_environment_it_reads(translated: dict[str, Any]) -> None:
    _, function = _only(translated, "AWS::Lambda::Function")
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
    } <= set(variables)
    assert variables["BATCH_FAILURE_MODE"] == "report"
    assert _ref_target(variables["DYNAMODB_TABLE"]) == "InviteTable"
    assert _ref_target(variables["SQS_URL"]) == "InviteQueue"
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "cis.lambda_handler.lambda_handler"


def test_an_alarm_fires_when_anything_reaches_the_dead_letter_queue(
    translated: dict[str, Any],
) -> None:
    alarms = _resources_of_type(translated, "AWS::CloudWatch::Alarm").values()
    watching_dlq = [
        alarm["Properties"]
        for alarm in alarms
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and any(
            _ref_target(dimension["Value"]) == "InviteDeadLetterQueue"
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
    broken = _copy_with(tmp_path, "- ReportBatchItemFailures", "- Nonsense")
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
