"""A mailer that writes each invitation as an .eml file: previews, demos, and air-gapped runs."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from cis.domain.model import normalise_address
from cis.errors import MailerError
from cis.ports.mailer import RawEmail

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+=-]")


class OutboxMailer:
    """Writes `<outbox>/<event uid>/<attendee>.eml`, whole or not at all.

    Each file is written under a temporary name and renamed into place, so a crash never
    leaves half a message where a reader (or a later run) could pick it up.
    """

    def __init__(self, *, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path_for(self, event_uid: str, recipient: str) -> Path:
        """Where the invitation of `recipient` to `event_uid` is written."""
        name = _UNSAFE.sub("_", normalise_address(recipient))
        return self.directory / _UNSAFE.sub("_", event_uid) / f"{name}.eml"

    def send(self, email: RawEmail) -> str:
        """Write the message; the returned id is the file's path."""
        target = self.path_for(email.event_uid, email.recipient)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(
                dir=target.parent, prefix=".", suffix=".tmp"
            )
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(email.data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise MailerError(f"cannot write {target}: {exc}", transient=True) from exc
        return str(target)
