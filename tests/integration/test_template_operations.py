"""The template's operating parts: TLS-only queues, logs, alarms, the dashboard, feedback.

Read from the translated CloudFormation, as in test_template.py, whose helpers these share.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cis.services.batch_metrics import DIMENSION, NAMESPACE, invite_metrics
from cis.services.reports import BatchReport
from tests.integration.test_template import (
    _event_source,
    _function,
    _ref_target,
    _resources_of_type,
    _statements,
    source,
    translated,
)

__all__ = ["source", "translated"]  # the fixtures, shared with test_template.py

FUNCTIONS = ("InviteFunction", "RsvpFunction", "FeedbackFunction")
QUEUES = ("InviteQueue", "InviteDeadLetterQueue", "RsvpQueue", "RsvpDeadLetterQueue",
          "FeedbackQueue", "FeedbackDeadLetterQueue")
ALARM_ACTIONS = {"Fn::If": ["NotifiesAlarms", [{"Fn::If": [
    "HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}],
    {"Ref": "AWS::NoValue"}]}


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: alarm["Properties"]
            for name, alarm in _resources_of_type(template, "AWS::CloudWatch::Alarm").items()}


def _alarm_on(template: dict[str, Any], metric: str, dimension: str | None = None
              ) -> dict[str, Any]:
    found = [alarm for alarm in _alarms(template).values()
             if alarm["MetricName"] == metric
             and (dimension is None or dimension in [_ref_target(d["Value"])
                                                     for d in alarm.get("Dimensions", [])])]
    assert len(found) == 1, f"expected one alarm on {metric} of {dimension}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("queue", QUEUES)
def test_every_queue_refuses_requests_without_tls(translated: dict[str, Any], queue: str) -> None:
    policies = [policy for policy in _resources_of_type(translated, "AWS::SQS::QueuePolicy")
                .values() if {"Ref": queue} in policy["Properties"]["Queues"]]
    assert len(policies) == 1, f"{queue} needs exactly one queue policy"
    denies = [s for s in _statements(policies[0]) if s.get("Effect") == "Deny"
              and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}]
    assert len(denies) == 1
    assert denies[0]["Principal"] == "*"
    assert denies[0]["Action"] == "sqs:*"
    assert denies[0]["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}


def test_named_producers_alone_and_the_fan_out_may_put_invite_requests(
    translated: dict[str, Any],
) -> None:
    policy = translated["Resources"]["InviteQueuePolicy"]
    conditional = [s["Fn::If"] for s in _statements(policy) if "Fn::If" in s]
    assert [c[0] for c in conditional] == ["HasProducers", "HasProducers"]
    allow, deny = (c[1] for c in conditional)
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"AWS": {"Ref": "ProducerArns"}}
    assert "sqs:SendMessage" in allow["Action"]
    assert (deny["Effect"], deny["Action"]) == ("Deny", "sqs:SendMessage")
    excepted = json.dumps(deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"])
    assert '"ProducerArns"' in excepted and '"InviteFunctionRole", "Arn"' in excepted
    assert all(c[2] == {"Ref": "AWS::NoValue"} for c in conditional)


def test_the_table_is_protected_from_deletion(translated: dict[str, Any]) -> None:
    table = translated["Resources"]["InviteTable"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_every_function_logs_json_at_the_stacks_level(
    translated: dict[str, Any], function_id: str,
) -> None:
    logging = _function(translated, function_id)["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    assert logging["SystemLogLevel"] == "WARN"


def test_the_log_levels_offered_are_ones_lambda_accepts(source: dict[str, Any]) -> None:
    lambda_levels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
    assert set(source["Parameters"]["LogLevel"]["AllowedValues"]) <= lambda_levels


def test_every_alarm_notifies_the_alarm_topic_when_there_is_one(
    translated: dict[str, Any],
) -> None:
    alarms = _alarms(translated)
    assert len(alarms) >= 13
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == ALARM_ACTIONS, name
        assert alarm["OKActions"] == ALARM_ACTIONS, name
        assert alarm["AlarmDescription"].strip(), name


def test_an_alarm_email_creates_the_topic_only_when_no_topic_is_named(
    translated: dict[str, Any],
) -> None:
    topic = translated["Resources"]["AlarmTopic"]
    assert topic["Condition"] == "CreatesAlarmTopic"
    assert topic["Properties"]["Subscription"] == [
        {"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    conditions = translated["Conditions"]
    assert conditions["CreatesAlarmTopic"] == {"Fn::And": [
        {"Fn::Not": [{"Condition": "HasAlarmTopic"}]},
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}]}
    assert conditions["NotifiesAlarms"] == {"Fn::Or": [
        {"Condition": "HasAlarmTopic"}, {"Condition": "CreatesAlarmTopic"}]}


def test_waiting_invites_are_watched_by_the_age_of_the_oldest(translated: dict[str, Any]) -> None:
    alarm = _alarm_on(translated, "ApproximateAgeOfOldestMessage", "InviteQueue")
    assert alarm["Threshold"] == {"Ref": "OldestInviteAlarmSeconds"}
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == (
        "Maximum", "GreaterThanThreshold")


@pytest.mark.parametrize("function_id", FUNCTIONS)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_errors_and_throttles(
    translated: dict[str, Any], function_id: str, metric: str,
) -> None:
    alarm = _alarm_on(translated, metric, function_id)
    assert alarm["Namespace"] == "AWS/Lambda"
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)


def test_an_invocation_near_its_timeout_alarms_for_every_timeout_allowed(
    translated: dict[str, Any],
) -> None:
    alarm = _alarm_on(translated, "Duration", "InviteFunction")
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == {"Fn::FindInMap": [
        "FunctionTimeoutSettings", {"Ref": "FunctionTimeout"}, "DurationAlarmMilliseconds"]}
    settings = translated["Mappings"]["FunctionTimeoutSettings"]
    for timeout in translated["Parameters"]["FunctionTimeout"]["AllowedValues"]:
        row = settings[str(timeout)]
        assert row["DurationAlarmMilliseconds"] == int(timeout) * 900
        assert row["TimeoutMilliseconds"] == int(timeout) * 1000


def test_a_mailer_that_refuses_every_invite_alarms_at_once(translated: dict[str, Any]) -> None:
    alarm = _alarm_on(translated, "MailerHalted", "InviteFunction")
    assert alarm["Namespace"] == NAMESPACE
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["Threshold"]) == (60, 1, 0)


@pytest.mark.parametrize(("metric", "review"), [
    ("Reputation.BounceRate", 0.05), ("Reputation.ComplaintRate", 0.001)])
def test_ses_reputation_alarms_before_aws_reviews_the_account(
    translated: dict[str, Any], metric: str, review: float,
) -> None:
    alarm = _alarm_on(translated, metric)
    assert alarm["Namespace"] == "AWS/SES"
    assert 0 < alarm["Threshold"] < review


def test_the_dashboard_is_valid_json_naming_only_resources_of_the_stack(
    translated: dict[str, Any],
) -> None:
    body, variables = translated["Resources"]["OperationsDashboard"]["Properties"][
        "DashboardBody"]["Fn::Sub"]
    assert set(variables) == {"TimeoutMilliseconds"}
    names = set(re.findall(r"\$\{([^}!]+)\}", body))
    resources = set(translated["Resources"])
    for name in names:
        base = name.split(".")[0]
        assert base in resources or base in variables or name == "AWS::Region", name
    filled = re.sub(r"\$\{[^}]+\}", "0", body)
    widgets = json.loads(filled)["widgets"]
    titles = [widget["properties"]["title"] for widget in widgets]
    assert len(titles) == len(set(titles)) >= 8


def test_a_configuration_set_is_created_unless_one_is_named(translated: dict[str, Any]) -> None:
    created = translated["Resources"]["SendingConfigurationSet"]
    assert created["Condition"] == "CreatesConfigurationSet"
    assert created["Properties"]["ReputationOptions"] == {"ReputationMetricsEnabled": True}
    in_use = {"Fn::If": ["CreatesConfigurationSet", {"Ref": "SendingConfigurationSet"},
                         {"Ref": "ConfigurationSetName"}]}
    variables = _function(translated, "InviteFunction")["Properties"]["Environment"]["Variables"]
    assert variables["SES_CONFIGURATION_SET"] == in_use
    destination = translated["Resources"]["FeedbackEventDestination"]["Properties"]
    assert destination["ConfigurationSetName"] == in_use


def test_the_event_destination_publishes_the_feedback_the_function_reads(
    translated: dict[str, Any],
) -> None:
    destination = translated["Resources"]["FeedbackEventDestination"]["Properties"][
        "EventDestination"]
    assert destination["Enabled"] is True
    assert set(destination["MatchingEventTypes"]) == {
        "send", "delivery", "bounce", "complaint", "reject", "deliveryDelay"}
    assert destination["SnsDestination"] == {"TopicARN": {"Ref": "FeedbackTopic"}}


def test_only_ses_of_this_account_may_publish_feedback_and_only_the_topic_may_queue_it(
    translated: dict[str, Any],
) -> None:
    topic_policy = translated["Resources"]["FeedbackTopicPolicy"]
    (allow,) = [s for s in _statements(topic_policy) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "ses.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"AWS:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert "configuration-set/" in json.dumps(allow["Condition"]["ArnLike"])
    queue_policy = translated["Resources"]["FeedbackQueuePolicy"]
    (allow,) = [s for s in _statements(queue_policy) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "FeedbackTopic"}}}
    subscription = translated["Resources"]["FeedbackSubscription"]["Properties"]
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["FeedbackQueue", "Arn"]}
    assert subscription["RawMessageDelivery"] is False


def test_the_feedback_function_reads_its_queue_with_partial_batch_responses(
    translated: dict[str, Any],
) -> None:
    properties = _function(translated, "FeedbackFunction")["Properties"]
    assert properties["Handler"] == "cis.lambda_handler.feedback_handler"
    variables = properties["Environment"]["Variables"]
    assert _ref_target(variables["DYNAMODB_TABLE"]) == "InviteTable"
    mapping = _event_source(translated, "FeedbackFunction")["Properties"]
    assert _ref_target(mapping["EventSourceArn"]) == "FeedbackQueue"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = translated["Resources"]["FeedbackQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * properties["Timeout"]
    assert _ref_target(queue["RedrivePolicy"]["deadLetterTargetArn"]) == (
        "FeedbackDeadLetterQueue")


def test_the_dashboard_and_alarms_name_only_metrics_the_invite_function_writes(
    translated: dict[str, Any],
) -> None:
    written = {metric.name for metric in invite_metrics(BatchReport(()), duration_ms=0)}
    body, _ = translated["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "0", body))["widgets"]
    named = {(row[1], row[2]) for widget in widgets for row in widget["properties"]["metrics"]
             if row[0] == NAMESPACE}
    named |= {(alarm["MetricName"], alarm["Dimensions"][0]["Name"])
              for alarm in _alarms(translated).values() if alarm["Namespace"] == NAMESPACE}
    assert {"Invited", "Updated", "Cancelled", "MailerHalted"} <= {name for name, _ in named}
    for name, dimension in named:
        assert name in written, name
        assert dimension == DIMENSION
