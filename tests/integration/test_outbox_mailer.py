"""The outbox folder on a real file system: whole files, numbered, never replaced."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cis.adapters.outbox import OutboxMailer
from cis.messages.invite_rules import address_problem
from cis.ports.mailer import RawEmail

UID = "launch-2026@example.org"
NAME_MAX = 255
"""Bytes in one file or folder name on the file systems an outbox lives on (ext4, APFS)."""
LONGEST_ADDRESS = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.org"


def mail(recipient: str, body: bytes, uid: str = UID) -> RawEmail:
    return RawEmail(sender="invites@example.org", recipient=recipient, data=body, event_uid=uid)


def written_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_later_messages_to_an_attendee_are_numbered_and_never_replace_the_first(
    tmp_path: Path,
) -> None:
    outbox = OutboxMailer(directory=tmp_path)
    ids = [outbox.send(mail("Ann@Example.org", f"message {n}".encode())) for n in range(3)]

    first = Path(ids[0]).name
    assert first.startswith("ann@example.org~") and first.endswith(".eml")
    stem = first.removesuffix(".eml")
    assert [Path(i).name for i in ids] == [first, f"{stem}.2.eml", f"{stem}.3.eml"]
    assert ids == [str(outbox.path_for(UID, "ann@example.org", n)) for n in (1, 2, 3)]
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


@pytest.mark.parametrize(("first", "second"), [
    ("ann!x@example.org", "ann#x@example.org"),
    ("ann_x@example.org", "ann/x@example.org"),
    ("ann.x@example.org", "ann.x@example.org.2"),  # the first's second message, by the old name
])
def test_attendees_whose_addresses_read_alike_once_made_safe_get_a_file_each(
    tmp_path: Path, first: str, second: str,
) -> None:
    outbox = OutboxMailer(directory=tmp_path)

    ids = [outbox.send(mail(first, b"to the first")), outbox.send(mail(second, b"to the second"))]

    assert ids[0] != ids[1]
    assert outbox.path_for(UID, first).read_bytes() == b"to the first"
    assert outbox.path_for(UID, second).read_bytes() == b"to the second"
    assert not outbox.path_for(UID, first, 2).exists()
    assert not outbox.path_for(UID, second, 2).exists()


def test_events_whose_uids_read_alike_once_made_safe_keep_their_attendees_apart(
    tmp_path: Path,
) -> None:
    outbox = OutboxMailer(directory=tmp_path)

    outbox.send(mail("ann@example.org", b"about a:b", uid="launch:2026"))
    outbox.send(mail("ann@example.org", b"about a_b", uid="launch_2026"))

    assert outbox.path_for("launch:2026", "ann@example.org").read_bytes() == b"about a:b"
    assert outbox.path_for("launch_2026", "ann@example.org").read_bytes() == b"about a_b"
    assert not outbox.path_for("launch_2026", "ann@example.org", 2).exists()


def test_the_longest_valid_address_and_uid_make_names_the_file_system_takes(
    tmp_path: Path,
) -> None:
    assert len(LONGEST_ADDRESS) == 254
    assert address_problem(LONGEST_ADDRESS) is None
    uid = "u" * 255
    outbox = OutboxMailer(directory=tmp_path)

    written = [outbox.send(mail(LONGEST_ADDRESS, f"message {n}".encode(), uid=uid))
               for n in range(2)]

    assert [Path(path).read_bytes() for path in written] == [b"message 0", b"message 1"]
    assert outbox.path_for(uid, LONGEST_ADDRESS, 2) == Path(written[1])
    for path in written:
        relative = Path(path).relative_to(tmp_path)
        assert all(len(os.fsencode(part)) <= NAME_MAX for part in relative.parts)
        assert relative.name.startswith(LONGEST_ADDRESS[:60])


@pytest.mark.parametrize("uid", ["..", ".", "", "../../escaped", ".hidden"])
def test_a_library_callers_uid_never_leads_out_of_the_outbox_or_into_a_hidden_folder(
    tmp_path: Path, uid: str,
) -> None:
    outbox = OutboxMailer(directory=tmp_path / "outbox")

    written = Path(outbox.send(mail("ann@example.org", b"kept inside", uid=uid)))

    assert written_files(tmp_path) == [written]
    relative = written.relative_to(tmp_path / "outbox")
    assert len(relative.parts) == 2
    assert not any(part.startswith(".") for part in relative.parts)
