"""Run a sample SQS batch through the Lambda handler on the embedded adapters (`make demo`).

State lives in memory and invitations land as .eml files in an outbox folder, so this needs no
AWS account. To show retries, the first send to one attendee fails with a passing error; the
failed record is then redelivered, as SQS would after its visibility timeout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from cis.adapters.memory import InMemoryInviteQueue, InMemoryInviteRepository
from cis.adapters.outbox import OutboxMailer
from cis.bootstrap import build_service
from cis.errors import MailerError
from cis.lambda_handler import LambdaRuntime, make_handler
from cis.ports.mailer import RawEmail

HERE = Path(__file__).parent


class FailsOnceFor:
    """Wraps a mailer so that the first send to one address fails with a passing error."""

    def __init__(self, mailer: OutboxMailer, address: str) -> None:
        self.mailer = mailer
        self.address = address.lower()
        self.failed = False

    def send(self, email: RawEmail) -> str:
        """Fail the first send to the chosen address, pass everything else through."""
        if not self.failed and email.recipient.lower() == self.address:
            self.failed = True
            raise MailerError("simulated throttling (try again later)", transient=True)
        return self.mailer.send(email)


def main() -> None:
    """Process the batch, redeliver what failed once, and show the outbox and statistics."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("batch", nargs="?", default=HERE / "sqs-batch.json", type=Path)
    parser.add_argument("--outbox", default=Path("outbox"), type=Path)
    parser.add_argument("--flaky", default="erin@example.com",
                        help="address whose first send fails transiently")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="   %(levelname)s %(message)s", stream=sys.stdout
    )

    repository = InMemoryInviteRepository()
    outbox = OutboxMailer(directory=args.outbox)
    service = build_service(
        repository=repository,
        mailer=FailsOnceFor(outbox, args.flaky),
        sender="{} via cis <invites@example.com>",
        rsvp_email="rsvp@example.com",
    )
    handler = make_handler(lambda: LambdaRuntime(service=service, queue=InMemoryInviteQueue()))

    event = json.loads(args.batch.read_text(encoding="utf-8"))
    records = event["Records"]
    for attempt in (1, 2):
        print(f"== delivery {attempt}: {len(records)} record(s)")
        response = handler({"Records": records}, None)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        print(f"   batchItemFailures: {sorted(failed) or 'none'}")
        records = [r for r in records if r["messageId"] in failed]
        if not records:
            break

    uid = json.loads(event["Records"][0]["body"])["event"]["uid"]
    files = sorted(p.relative_to(args.outbox) for p in args.outbox.rglob("*.eml"))
    print(f"== {len(files)} invitation(s) in {args.outbox}/")
    for path in files:
        print(f"   {path}")
    print("== statistics")
    print(json.dumps(repository.get_statistics(uid).as_dict(), indent=2))
    recount = repository.recount(uid)
    print(f"== recount from attendee records agrees: {recount == repository.get_statistics(uid)}")


if __name__ == "__main__":
    main()
