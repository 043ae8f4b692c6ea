"""A mailer that writes each invitation as an .eml file: previews, demos, and air-gapped runs."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from cis.domain.model import normalise_address
from cis.errors import MailerError
from cis.ports.mailer import RawEmail

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+=-]")

READABLE_LENGTH = 100
"""Characters of the event uid or the address kept in a folder or file name, for people.

Names are read by people browsing the outbox; the digest, not this part, tells attendees
apart, so the cut only has to keep the name well inside the 255 bytes file systems allow.
"""

DIGEST_LENGTH = 20
"""Hex digits of SHA-256 in a file name: 80 bits, so that among a million attendees of one
event the chance that two share a name is about 4e-13."""


class OutboxMailer:
    """Writes `<outbox>/<event uid>/<attendee>~<digest>.eml`, whole or not at all.

    The file name is the attendee's address made safe and cut to `READABLE_LENGTH`, then a
    digest of the exact (event uid, normalised address) pair, so two attendees whose
    addresses read alike once made safe (`ann!x@` and `ann#x@`), or two events whose uids
    do (`a:b` and `a_b`), never share a file, and a 254-character address still makes a
    name the file system takes. The folder is the uid made safe, for browsing only.

    Each file is written under a temporary name and linked into place, so a crash never
    leaves half a message where a reader (or a later run) could pick it up. An attendee's
    later messages (an update, a cancellation, a resend) never replace an earlier one: they
    are numbered in the order they were sent, `<attendee>~<digest>.2.eml`, `.3.eml`, as a
    mailbox would keep them.
    """

    def __init__(self, *, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._root = os.fspath(self.directory)

    def path_for(self, event_uid: str, recipient: str, number: int = 1) -> Path:
        """Where the `number`th message to `recipient` about `event_uid` is written."""
        return Path(self._target(event_uid, recipient, number))

    def _target(self, event_uid: str, recipient: str, number: int = 1) -> str:
        """The file name as a plain string.

        Not a `Path`: on Python 3.11 pathlib interns every part it parses, which grows the
        interpreter's interned-string table by one entry per attendee of a long run.
        """
        name = _attendee_name(event_uid, normalise_address(recipient))
        numbered = f"{name}.eml" if number == 1 else f"{name}.{number}.eml"
        return os.path.join(self._root, _readable(event_uid), numbered)

    def send(self, email: RawEmail) -> str:
        """Write the message under the recipient's next free number; the id is the path."""
        target = self._target(email.event_uid, email.recipient)
        folder = os.path.dirname(target)
        try:
            os.makedirs(folder, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(email.data)
                    handle.flush()
                    os.fsync(handle.fileno())
                target = self._link(temporary, email.event_uid, email.recipient)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
        except OSError as exc:
            raise MailerError(f"cannot write {target}: {exc}", transient=True) from exc
        return target

    def _link(self, written: str, event_uid: str, recipient: str) -> str:
        """Give the written file the first free number: a link never replaces a file."""
        number = 1
        while True:
            target = self._target(event_uid, recipient, number)
            try:
                os.link(written, target)
            except FileExistsError:
                number += 1
                continue
            return target


def _attendee_name(event_uid: str, address: str) -> str:
    """`<readable address>~<digest of the pair>`: one name per attendee of one event.

    The pair is encoded with the uid's length first, so no two pairs encode alike. The
    digest ends the name in hex digits, so a numbered name (`.2`) is never another's first.
    """
    pair = f"{len(event_uid)}:{event_uid}{address}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(pair).hexdigest()[:DIGEST_LENGTH]
    return f"{_readable(address)}~{digest}"


def _readable(text: str) -> str:
    """`text` made one safe name part, cut to `READABLE_LENGTH`, never hidden, `.` or `..`."""
    safe = _UNSAFE.sub("_", text)[:READABLE_LENGTH]
    return "_" + safe[1:] if not safe or safe.startswith(".") else safe
