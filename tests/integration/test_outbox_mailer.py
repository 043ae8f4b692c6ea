"""The outbox folder on a real file system: whole files, numbered, never replaced."""

from __future__ import annotations

import threading
from pathlib import Path

from cis.adapters.outbox import OutboxMailer
from cis.ports.mailer import RawEmail

UID = "launch-2026@example.org"


def mail(recipient: str, body: bytes) -> RawEmail:
    return RawEmail(sender="invites@example.org", recipient=recipient, data=body, event_uid=UID)


def test_later_messages_to_an_attendee_are_numbered_and_never_replace_the_first(
    tmp_path: Path,
) -> None:
    outbox = OutboxMailer(directory=tmp_path)
    ids = [outbox.send(mail("Ann@Example.org", f"message {n}".encode())) for n in range(3)]

    assert [Path(i).name for i in ids] == ["ann@example.org.eml", "ann@example.org.2.eml",
                                           "ann@example.org.3.eml"]
    assert [outbox.path_for(UID, "ann@example.org", n).read_bytes() for n in (1, 2, 3)] == [
        b"message 0", b"message 1", b"message 2"]
    assert not [p for p in (tmp_path / UID).iterdir() if p.name.startswith(".")]


def test_concurrent_writers_never_share_a_number(tmp_path: Path) -> None:
    outbox = OutboxMailer(directory=tmp_path)
    barrier = threading.Barrier(8)
    written: list[str] = []

    def send(n: int) -> None:
        barrier.wait()
        written.append(outbox.send(mail("bob@example.org", f"from {n}".encode())))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(written)) == 8
    bodies = sorted(Path(path).read_bytes() for path in written)
    assert bodies == sorted(f"from {n}".encode() for n in range(8))
