"""A real SMTP server (aiosmtpd) on localhost that keeps every message it accepts, for tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Delivery:
    """One accepted message: its envelope and the bytes exactly as the client sent them."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


@dataclass
class RecordingHandler:
    """Accepts everything except the recipients in `refusals`, which get the reply given there.

    `refusals` is keyed by lower-cased address and may be changed between runs; `refused`
    lists every recipient that was turned away, once per attempt. `data_refusals`, keyed the
    same way, answer the DATA command itself (before any of the message is sent) for a
    transaction to that recipient, as a relay does that refuses a message by its envelope.
    """

    refusals: dict[str, str] = field(default_factory=dict)
    data_refusals: dict[str, str] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.refusals.get(address.lower())
        if reply is not None:
            with self._lock:
                self.refused.append(address)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.mail_from is not None
        assert envelope.original_content is not None
        with self._lock:
            self.deliveries.append(Delivery(
                envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content,
            ))
        return "250 2.0.0 Ok: queued"

    def snapshot(self) -> list[Delivery]:
        """The deliveries so far, copied under the lock the server thread appends with."""
        with self._lock:
            return list(self.deliveries)


class _RecordingSMTP(SMTP):
    """aiosmtpd's server, refusing the DATA command as its handler's `data_refusals` say."""

    async def smtp_DATA(self, arg: str) -> None:
        handler = self.event_handler
        envelope = self.envelope
        if isinstance(handler, RecordingHandler) and envelope is not None:
            for address in envelope.rcpt_tos:
                reply = handler.data_refusals.get(address.lower())
                if reply is not None:
                    with handler._lock:
                        handler.refused.append(address)
                    await self.push(reply)
                    return
        await super().smtp_DATA(arg)


class _RecordingController(Controller):
    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, **self.SMTP_kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_smtp_server(handler: RecordingHandler) -> Iterator[Controller]:
    """Serve `handler` on a free local port (see `controller.port`) until the block ends."""
    controller = _RecordingController(handler, hostname=HOST, port=_free_port(),
                                      decode_data=False)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
