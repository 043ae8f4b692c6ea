"""What the invite path imports: no icalendar, pydantic or email-validator on a cold start.

Their imports alone cost a Lambda cold start tens of milliseconds each (icalendar ~40 ms,
pydantic and its models ~100 ms), and a batch of well-formed requests needs none of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: the Lambda module, its AWS runtime built from the environment as on a
# cold start (boto3 clients made, no call sent), then the service moved onto in-memory
# adapters, and one SQS record for an event in Berlin (so the calendar carries a VTIMEZONE
# and TZID times). It prints what it sent and which modules it loaded.
ONE_RECORD = textwrap.dedent("""
    import json
    import sys

    import cis.lambda_handler
    from cis.adapters.memory import InMemoryInviteQueue, InMemoryInviteRepository, InMemoryMailer
    from cis.bootstrap import build_service
    from tests.support import RSVP_EMAIL, SENDER, Clock, body, counter_ids

    cis.lambda_handler.aws_runtime({{
        "REGION": "eu-west-1", "DYNAMODB_TABLE": "cis-invites", "SENDER": SENDER,
        "RSVP_EMAIL": RSVP_EMAIL, "SQS_URL": "https://sqs.eu-west-1.amazonaws.com/1/invites",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }})
    mailer = InMemoryMailer()
    service = build_service(repository=InMemoryInviteRepository(), mailer=mailer,
                            sender=SENDER, rsvp_email=RSVP_EMAIL, clock=Clock(),
                            new_id=counter_ids())
    handler = cis.lambda_handler.make_handler(
        lambda: cis.lambda_handler.LambdaRuntime(service=service, queue=InMemoryInviteQueue()))
    {extra_import}
    response = handler({{"Records": [{{"messageId": "m1", "receiptHandle": "r1",
                                      "body": body("ann@example.org", name="Ann Lee")}}]}}, None)
    print(json.dumps({{
        "response": response,
        "sent": [message.data.decode("ascii") for message in mailer.sent],
        "icalendar_modules": sorted(name for name in sys.modules
                                    if name.split(".")[0] == "icalendar"),
        "packages": sorted({{name.split(".")[0] for name in sys.modules}}
                           - set(sys.stdlib_module_names)),
    }}))
""")


def run_one_record(extra_import: str = "") -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", ONE_RECORD.format(extra_import=extra_import)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # The handler's metric line comes first; the script's own report is the last line.
    outcome: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return outcome


def test_a_lambda_that_sends_a_zoned_invitation_never_imports_icalendar() -> None:
    outcome = run_one_record()
    assert outcome["response"] == {"batchItemFailures": []}
    (sent,) = outcome["sent"]  # type: ignore[misc]
    assert "\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n" in sent
    assert "\r\nDTSTART;TZID=Europe/Berlin:20261201T100000\r\n" in sent
    assert outcome["icalendar_modules"] == []


def test_the_check_sees_icalendar_when_something_imports_it() -> None:
    # The reply parser still reads replies with icalendar; loading it must show up.
    outcome = run_one_record(extra_import="import cis.messages.reply_mail")
    assert "icalendar" in outcome["icalendar_modules"]  # type: ignore[operator]


# What the deployed invite function may load besides the standard library: cis, boto3 and
# what boto3 needs, nh3 (the HTML sanitiser), and tzdata (the IANA zone list; on Lambda also
# the zone data, there being no system zoneinfo folder). Interpreter internals aside.
ALLOWED_PACKAGES = {
    "cis", "tests", "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3",
    "certifi", "nh3", "tzdata",
}
_INTERPRETER = ("_distutils_hack", "_sysconfigdata", "__mp_main__", "__main__")


def test_the_invite_path_loads_no_package_beyond_the_aws_sdk_and_its_own() -> None:
    packages = {name for name in run_one_record()["packages"]  # type: ignore[union-attr]
                if not name.startswith(_INTERPRETER)}
    assert packages <= ALLOWED_PACKAGES, packages - ALLOWED_PACKAGES
    assert not {"pydantic", "pydantic_core", "icalendar", "email_validator"} & packages


def test_the_package_check_sees_pydantic_when_something_imports_it() -> None:
    outcome = run_one_record(extra_import="import cis.messages.invite_models")
    assert "pydantic" in outcome["packages"]  # type: ignore[operator]
