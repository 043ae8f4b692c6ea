"""The real `cis` executable and the suppression list: a bounce stops mail until it is lifted."""

from __future__ import annotations

import json
from pathlib import Path

from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import build_feedback_service
from cis.domain.feedback import FeedbackOutcome
from tests.e2e.test_cli_lifecycle import invited, messages_to, write_version
from tests.e2e.test_cli_send import UID, cis, workdir
from tests.feedback import in_sns, report

__all__ = ["invited", "workdir"]  # the fixtures, shared with the send tests

BOB = "bob@example.net"


def bounce(workdir: Path, address: str) -> None:
    """An SES bounce for the attendee's invitation, applied to the state file.

    The outbox names its messages by path, which is no SES message id: the bounce names one
    of SES's, as if the invitation had gone out through SES.
    """
    with SqliteInviteRepository(path=workdir / "cis.db") as store:
        record = store.get_attendee(UID, address)
        assert record is not None
        body = in_sns(report("event-bounce", message_id="0100018c-0000-ses-id",
                             recipient=record.email, event_uid=UID))
        results = build_feedback_service(store=store).process_body(body)
    assert [result.outcome for result in results] == [FeedbackOutcome.APPLIED]


def test_a_bounced_address_is_listed_skipped_by_the_next_update_and_sent_again_once_lifted(
    invited: Path,
) -> None:
    bounce(invited, BOB)

    listed = cis("suppressions", "list", cwd=invited)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        f"{BOB}  bounce (Permanent/General; smtp; 550 5.1.1 user unknown) on "
        f"2017-08-05T00:41:02.669000+00:00, event {UID}",
        "1 address(es) suppressed"]
    stats = json.loads(cis("stats", UID, "--json", cwd=invited).stdout)
    assert (stats["bounced"], stats["suppressed"]) == (1, 0)

    moved = write_version(invited, "moved.json", sequence=1, location="Room 5")
    update = cis("update", moved, cwd=invited)
    assert update.returncode == 0, update.stdout + update.stderr
    assert f"{BOB}: suppressed: the address is on the suppression list" in update.stdout
    assert len(messages_to(invited, BOB)) == 1  # the invitation only
    assert len(messages_to(invited, "ann.lee@example.org")) == 2
    table = cis("stats", UID, cwd=invited).stdout
    assert "bounced" in table and "suppressed" in table

    lifted = cis("suppressions", "lift", "Bob@Example.NET", cwd=invited)
    assert lifted.returncode == 0, lifted.stderr
    assert lifted.stdout.startswith(f"Lifted {BOB} (suppressed for a bounce")
    assert cis("suppressions", "list", cwd=invited).stdout == "0 address(es) suppressed\n"
    history = cis("suppressions", "list", "--all", "--json", cwd=invited).stdout.splitlines()
    [line] = [json.loads(text) for text in history]
    assert (line["address"], line["reason"]) == (BOB, "bounce")
    assert line["lifted_at"] is not None

    resend = cis("resend", UID, BOB, cwd=invited)
    assert resend.returncode == 0, resend.stdout + resend.stderr
    assert len(messages_to(invited, BOB)) == 2


def test_lifting_an_address_that_is_not_suppressed_exits_1(invited: Path) -> None:
    result = cis("suppressions", "lift", BOB, cwd=invited)
    assert result.returncode == 1
    assert result.stdout == f"{BOB} is not on the suppression list\n"


def test_a_malformed_address_or_a_missing_state_file_is_a_usage_error(workdir: Path) -> None:
    malformed = cis("suppressions", "lift", "bob@", "--state", "cis.db", cwd=workdir)
    missing = cis("suppressions", "list", cwd=workdir)

    assert (malformed.returncode, missing.returncode) == (2, 2)
    assert "ADDRESS:" in malformed.stderr
    assert "no state file here" in missing.stderr
