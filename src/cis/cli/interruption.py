"""SIGINT and SIGTERM while a command sends: finish the invitation in hand, record, then stop.

The default reaction to Ctrl-C, an exception wherever the program happens to be, would leave
the attendee being sent claimed for the whole lease (a re-run calls them pending) and could
lose the record of an invitation that went out. Here the first signal only asks the invite
service to take no more records: the one in hand is sent (or fails) as it would have been,
everything sent is recorded, the rest is handed back untouched, and the command prints its
summary and exits 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).

A mail server that stalls can keep the invitation in hand going for as long as the mailer's
timeout. A second signal while a message is being handed to the mail system abandons it: the
mailer call ends in a passing `MailerError`, so its claim is released and the next run sends
it. If the server had already taken the message, that attendee then gets it twice; a message
the server never confirmed is the only one that can be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from types import FrameType, TracebackType
from typing import Any, TextIO

from cis.errors import MailerError
from cis.ports.mailer import Mailer, RawEmail

__all__ = ["STOP_SIGNALS", "Interruption"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Abandoned(Exception):
    """Raised inside a blocked mailer call by the second signal; never leaves the guard."""


class Interruption:
    """Turns SIGINT and SIGTERM into a request to stop between invitations, while installed.

    Use it as a context manager around the sending and the summary; outside it, the signals
    keep their usual effect. Signals can only be caught in the main thread: elsewhere it
    installs nothing and never reports a stop.
    """

    def __init__(self, err: TextIO, *, command: str) -> None:
        self._err = err
        self._command = command
        #: The first stop signal received, if any.
        self.signum: int | None = None
        #: True once a second signal abandoned the message being sent.
        self.abandoned = False
        #: True while the mailer is handing a message over: the only time a send may be
        #: abandoned.
        self.in_send = False
        self._previous: dict[int, Any] = {}
        self.stopping = threading.Event()

    def __enter__(self) -> Interruption:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._received) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    @property
    def name(self) -> str | None:
        """The received signal's name (`SIGINT`), or None."""
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int | None:
        """128 + the signal's number, the shell's convention for a command a signal ended."""
        return None if self.signum is None else 128 + self.signum

    def reason(self) -> str | None:
        """Why no more records may start (the invite service asks before each), or None."""
        return None if self.name is None else f"not started: {self.name} received"

    def guard(self, mailer: Mailer) -> Mailer:
        """`mailer`, made abandonable by a second signal while it sends."""
        return _AbandonableMailer(mailer, self)

    def _received(self, signum: int, frame: FrameType | None) -> None:
        """Note the signal; on a second one during a send, abandon that send.

        Python runs this in the main thread between bytecodes, so it may raise there; it
        raises only while the mailer call is blocked, never inside bookkeeping.
        """
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = signum
            self.stopping.set()
            self._say(f"{name} received: finishing the invitation in hand, recording what "
                      f"was sent, then stopping ({name} again abandons a send that hangs)")
        elif self.in_send and not self.abandoned:
            self.abandoned = True
            self._say(f"{name} received again: abandoning the invitation in hand; its claim "
                      "is released, so the next run sends it")
            raise _Abandoned
        else:
            self._say(f"{name} received: already stopping, recording what was sent")

    def _say(self, text: str) -> None:
        """Write straight to the file descriptor: the stream may be half way through a write."""
        try:
            descriptor = self._err.fileno()
        except (AttributeError, OSError, ValueError):
            return
        prefix = "\n" if self._err.isatty() else ""
        with contextlib.suppress(OSError):
            os.write(descriptor, f"{prefix}{self._command}: {text}\n".encode())


class _AbandonableMailer:
    """A mailer whose send a second signal may end, as a passing failure."""

    def __init__(self, mailer: Mailer, interruption: Interruption) -> None:
        self._mailer = mailer
        self._interruption = interruption

    def send(self, email: RawEmail) -> str:
        """Send through the wrapped mailer; an abandoned send is a transient `MailerError`."""
        self._interruption.in_send = True
        try:
            return self._mailer.send(email)
        except _Abandoned:
            raise MailerError(f"abandoned on a second {self._interruption.name} before the "
                              "mail system confirmed it", transient=True) from None
        finally:
            self._interruption.in_send = False
