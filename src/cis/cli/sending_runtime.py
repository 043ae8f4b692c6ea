"""The runtime of a command that sends, opened only once its state and mail target can be written.

A state file or an outbox folder that refuses writes lets a run start: each invitation then
fails on its own, looks like a passing failure, and is reported as "pending, run again" with
the cause shown only in the log. Both are tried before anything is sent, and a refusal is
reported once, plainly, as permanent (exit status 3).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import LocalRuntime, local_runtime
from cis.cli.interruption import Interruption
from cis.config import LocalSettings
from cis.errors import RepositoryError
from cis.ports.queue import InviteQueue
from cis.ports.repository import InviteRepository

__all__ = ["PermanentFailure", "check_outbox", "sending_runtime"]


class PermanentFailure(Exception):
    """Raised when the state file or the mail target cannot be written; the command exits 3."""


@contextmanager
def sending_runtime(
    settings: LocalSettings, interruption: Interruption, *, relay: InviteQueue | None = None,
) -> Iterator[LocalRuntime]:
    """`local_runtime`, stopped between records by `interruption`, checked before it is used.

    Raises:
        PermanentFailure: the state file cannot be opened or written, or the outbox folder
            cannot be written; nothing was sent.

    """
    try:
        runtime = local_runtime(settings, relay=relay, stop_requested=interruption.reason,
                                guard_mailer=interruption.guard)
    except RepositoryError as exc:
        if exc.transient:
            raise
        raise PermanentFailure(f"cannot open the state file {settings.state}: {exc}") from None
    with runtime:
        _check_state(runtime.repository, settings.state)
        if not (settings.smtp_url or settings.ses):
            check_outbox(settings.outbox)
        yield runtime


def _check_state(repository: InviteRepository, state: Path) -> None:
    if not isinstance(repository, SqliteInviteRepository):
        return
    try:
        repository.check_writable()
    except RepositoryError as exc:
        if exc.transient:
            raise
        raise PermanentFailure(f"cannot write the state file {state}: {exc}") from None


def check_outbox(folder: Path) -> None:
    """Write and remove a file where the outbox's files will go, or the folder that will hold it.

    Nothing is left behind, and a folder not there yet is not made: the first message makes it.

    Raises:
        PermanentFailure: naming the folder and why it cannot be written.

    """
    nearest = folder
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise PermanentFailure(f"cannot write the outbox folder {folder}: {nearest} is not a "
                               "folder")
    try:
        descriptor, probe = tempfile.mkstemp(dir=nearest, prefix=".cis-write-check-")
    except OSError as exc:
        raise PermanentFailure(f"cannot write the outbox folder {folder}: "
                               f"{exc.strerror or exc} ({nearest})") from None
    os.close(descriptor)
    os.unlink(probe)
