"""The invite path never imports icalendar: its import alone costs a Lambda cold start ~40 ms."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: the Lambda module, the service on in-memory adapters, one SQS record
# for an event in Berlin (so the calendar carries a VTIMEZONE and TZID times). It prints what
# it sent and which modules it loaded.
ONE_RECORD = textwrap.dedent("""
    import json
    import sys

    import cis.lambda_handler
    from cis.adapters.memory import InMemoryInviteQueue, InMemoryInviteRepository, InMemoryMailer
    from cis.services.invites import InviteService
    from tests.support import RSVP_EMAIL, SENDER, Clock, body, counter_ids

    mailer = InMemoryMailer()
    service = InviteService(repository=InMemoryInviteRepository(), mailer=mailer,
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
    }}))
""")


def run_one_record(extra_import: str = "") -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", ONE_RECORD.format(extra_import=extra_import)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outcome: dict[str, object] = json.loads(result.stdout)
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
