"""The SMTP mailer against a real SMTP server (aiosmtpd) on localhost: bytes, reuse, errors."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from cis.adapters.smtp import SmtpMailer
from cis.domain.model import Invitee
from cis.domain.rendering.imip import compose_invitation
from cis.errors import MailerError
from cis.ports.mailer import RawEmail
from tests.smtp_server import RecordingHandler, running_smtp_server
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, sample_event

# The test server takes AUTH over plain text on purpose; TLS is not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

HOST = "127.0.0.1"
USER, PASSWORD = "cis", "s3cret:@/"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps every accepted message and refuses chosen recipients."""

    refusals: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:
        if address in self.refusals:
            return self.refusals[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refusals:
            return self.refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        assert envelope.mail_from is not None
        self.received.append(Received(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, session.peer,
        ))
        return "250 2.0.0 Ok: queued"

    @property
    def connections(self) -> int:
        """How many distinct client connections delivered messages (one peer port each)."""
        return len({item.peer for item in self.received})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


StartServer = Callable[..., Controller]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start aiosmtpd servers on demand; every one still running is stopped after the test."""
    running: list[Controller] = []

    def start(handler: Recorder, port: int | None = None, **options: Any) -> Controller:
        controller = Controller(
            handler, hostname=HOST, port=port or free_port(), decode_data=False, **options,
        )
        controller.start()
        running.append(controller)
        return controller

    yield start
    for controller in running:
        if controller._thread is not None:
            controller.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(start_server: StartServer, recorder: Recorder) -> Controller:
    return start_server(recorder)


@pytest.fixture
def mailer(server: Controller) -> Iterator[SmtpMailer]:
    with SmtpMailer(host=HOST, port=server.port, security="none", timeout=5) as smtp:
        yield smtp


def invitation_email(recipient: str = "ann@example.net", email_id: str = "m1") -> RawEmail:
    invitation = compose_invitation(
        sample_event(), Invitee(recipient, name="Ann Example"), sender=SENDER,
        rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id=email_id,
    )
    return RawEmail(
        sender=invitation.envelope_sender, recipient=invitation.recipient,
        data=invitation.data, event_uid="launch-2026",
    )


def plain_email(data: bytes, recipient: str = "bob@example.net") -> RawEmail:
    return RawEmail(sender="invites@example.com", recipient=recipient, data=data,
                    event_uid="launch-2026")


# Delivery


def test_rendered_invitation_arrives_byte_for_byte_with_its_envelope(
    mailer: SmtpMailer, recorder: Recorder
) -> None:
    email = invitation_email()

    message_id = mailer.send(email)

    [received] = recorder.received
    assert received.mail_from == "invites@example.com"
    assert received.rcpt_tos == ["ann@example.net"]
    assert received.data == email.data
    assert message_id == "<m1@example.com>"


def test_lines_starting_with_a_dot_survive_dot_stuffing(
    mailer: SmtpMailer, recorder: Recorder
) -> None:
    data = b"Subject: dots\r\nMessage-ID: <dots@x>\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n"

    mailer.send(plain_email(data))

    assert recorder.received[0].data == data


def test_message_without_message_id_gets_a_generated_one(mailer: SmtpMailer) -> None:
    first = mailer.send(plain_email(b"Subject: no id\r\n\r\nbody\r\n"))
    second = mailer.send(plain_email(b"Subject: no id\r\n\r\nbody\r\n"))

    assert first.startswith("<") and first.endswith(">")
    assert first != second


def test_three_sends_share_one_connection(mailer: SmtpMailer, recorder: Recorder) -> None:
    for number in range(3):
        mailer.send(invitation_email(f"guest{number}@example.net", email_id=f"m{number}"))

    assert [item.rcpt_tos for item in recorder.received] == [
        ["guest0@example.net"], ["guest1@example.net"], ["guest2@example.net"],
    ]
    assert recorder.connections == 1


def test_closing_the_mailer_makes_the_next_send_open_a_new_connection(
    mailer: SmtpMailer, recorder: Recorder
) -> None:
    mailer.send(invitation_email())
    mailer.close()
    mailer.send(invitation_email())

    assert recorder.connections == 2


def test_connection_dropped_by_the_server_is_reopened_and_the_message_sent(
    start_server: StartServer,
) -> None:
    first, second = Recorder(), Recorder()
    old = start_server(first)
    with SmtpMailer(host=HOST, port=old.port, security="none", timeout=5) as mailer:
        mailer.send(invitation_email(email_id="before"))
        # A restart closes every open connection, as a relay's idle timeout would.
        old.stop()
        start_server(second, port=old.port)

        message_id = mailer.send(invitation_email(email_id="after"))

    assert message_id == "<after@example.com>"
    assert len(first.received) == 1
    assert len(second.received) == 1


# Errors


def test_recipient_refused_with_451_is_transient(
    start_server: StartServer,
) -> None:
    server = start_server(Recorder(refusals={"busy@example.net": "451 4.3.0 Try again later"}))
    mailer = SmtpMailer(host=HOST, port=server.port, security="none", timeout=5)

    with mailer, pytest.raises(MailerError, match="451") as caught:
        mailer.send(invitation_email("busy@example.net"))

    assert caught.value.transient is True
    assert caught.value.account_level is False


def test_recipient_refused_with_550_is_permanent_and_the_connection_stays_usable(
    start_server: StartServer,
) -> None:
    handler = Recorder(refusals={"gone@example.net": "550 5.1.1 No such user"})
    server = start_server(handler)
    with SmtpMailer(host=HOST, port=server.port, security="none", timeout=5) as mailer:
        with pytest.raises(MailerError, match="550") as caught:
            mailer.send(invitation_email("gone@example.net"))
        mailer.send(invitation_email("ann@example.net"))

    assert caught.value.transient is False
    assert caught.value.account_level is False
    assert [item.rcpt_tos for item in handler.received] == [["ann@example.net"]]


# A failed transaction never reaches the next message


@pytest.mark.parametrize(("recipient", "refusal"), [
    ("ann@bücher.example", None),
    ("ünn@example.net", None),
    ("ann@example.net>\r\nRCPT TO:<eve@evil.example", None),
    ("gone@example.net", "550 5.1.1 No such user"),
    ("held@example.net", "554 5.7.1 Message refused"),
])
def test_a_transaction_that_fails_is_reset_and_the_next_recipient_is_delivered(
    recipient: str, refusal: str | None,
) -> None:
    handler = RecordingHandler()
    if refusal and refusal.startswith("550"):
        handler.refusals[recipient] = refusal  # at RCPT TO
    elif refusal:
        handler.data_refusals[recipient] = refusal  # at the DATA command, before the message
    with running_smtp_server(handler) as server, SmtpMailer(
            host=HOST, port=server.port, security="none", timeout=5) as mailer:
        with pytest.raises(MailerError) as caught:
            mailer.send(plain_email(b"Subject: first\r\n\r\nbody\r\n", recipient=recipient))
        mailer.send(invitation_email("bob@example.net"))

    assert caught.value.transient is False
    assert caught.value.account_level is False
    assert [d.rcpt_tos for d in handler.snapshot()] == [("bob@example.net",)]
    assert handler.refused == ([recipient] if refusal else [])


def test_an_address_smtp_cannot_carry_is_refused_before_the_transaction_naming_why(
    mailer: SmtpMailer, recorder: Recorder,
) -> None:
    email = plain_email(b"Subject: x\r\n\r\nbody\r\n", recipient="ann@bücher.example")

    with pytest.raises(MailerError, match=r"'ann@bücher\.example' is not ASCII") as caught:
        mailer.send(email)

    assert "SMTPUTF8" in str(caught.value)
    assert recorder.received == []


def test_a_sender_smtp_cannot_carry_fails_every_invitation_alike(
    mailer: SmtpMailer, recorder: Recorder,
) -> None:
    email = RawEmail(sender="invites@bücher.example", recipient="ann@example.net",
                     data=b"Subject: x\r\n\r\nbody\r\n", event_uid="launch-2026")

    with pytest.raises(MailerError, match="sender") as caught:
        mailer.send(email)

    assert caught.value.account_level is True
    assert recorder.received == []


def test_sender_refused_is_a_transient_account_level_error(start_server: StartServer) -> None:
    handler = Recorder(refusals={"invites@example.com": "553 5.7.1 Sender not allowed"})
    server = start_server(handler)
    mailer = SmtpMailer(host=HOST, port=server.port, security="none", timeout=5)

    with mailer, pytest.raises(MailerError, match="553") as caught:
        mailer.send(invitation_email())

    assert caught.value.transient is True
    assert caught.value.account_level is True
    assert handler.received == []


@pytest.mark.parametrize(("reply", "throttled", "account_level"), [
    ("454 Throttling failure: Maximum sending rate exceeded", True, False),
    ("454 Throttling failure: Daily message quota exceeded", False, True),
])
def test_a_relay_refusing_for_its_rate_or_its_daily_quota_says_which(
    start_server: StartServer, reply: str, throttled: bool, account_level: bool,
) -> None:
    # SES's SMTP interface answers MAIL FROM so when the account sends too fast or too much;
    # neither means the sender itself is refused.
    handler = Recorder(refusals={"invites@example.com": reply})
    server = start_server(handler)
    mailer = SmtpMailer(host=HOST, port=server.port, security="none", timeout=5)

    with mailer, pytest.raises(MailerError, match="454") as caught:
        mailer.send(invitation_email())

    assert caught.value.transient is True
    assert (caught.value.throttled, caught.value.account_level) == (throttled, account_level)


def test_stopped_server_is_a_transient_error(start_server: StartServer) -> None:
    server = start_server(Recorder())
    server.stop()
    mailer = SmtpMailer(host=HOST, port=server.port, security="none", timeout=5)

    with pytest.raises(MailerError) as caught:
        mailer.send(invitation_email())

    assert caught.value.transient is True
    assert isinstance(caught.value.__cause__, OSError)


def test_starttls_required_but_not_offered_is_an_account_level_error(server: Controller) -> None:
    mailer = SmtpMailer(host=HOST, port=server.port, security="starttls", timeout=5)

    with pytest.raises(MailerError) as caught:
        mailer.send(invitation_email())

    assert caught.value.account_level is True


# Authentication


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    accepted = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False makes aiosmtpd itself answer 535 on failure; by default it answers nothing.
    return AuthResult(success=accepted, handled=False)


@pytest.fixture
def auth_server(start_server: StartServer, recorder: Recorder) -> Controller:
    return start_server(
        recorder, authenticator=authenticator, auth_required=True, auth_require_tls=False,
    )


def test_server_requiring_auth_accepts_the_right_password(
    auth_server: Controller, recorder: Recorder
) -> None:
    url = f"smtp://{USER}:s3cret%3A%40%2F@{HOST}:{auth_server.port}"
    with SmtpMailer.from_url(url, timeout=5) as mailer:
        mailer.send(invitation_email())

    assert len(recorder.received) == 1


def test_wrong_password_is_a_transient_account_level_error(
    auth_server: Controller, recorder: Recorder
) -> None:
    mailer = SmtpMailer(host=HOST, port=auth_server.port, security="none",
                        username=USER, password="wrong", timeout=5)

    with pytest.raises(MailerError, match="every invitation") as caught:
        mailer.send(invitation_email())

    assert caught.value.transient is True
    assert caught.value.account_level is True
    assert recorder.received == []


def test_sending_without_credentials_to_a_server_requiring_auth_is_refused(
    auth_server: Controller, recorder: Recorder
) -> None:
    mailer = SmtpMailer(host=HOST, port=auth_server.port, security="none", timeout=5)

    with pytest.raises(MailerError) as caught:
        mailer.send(invitation_email())

    assert caught.value.account_level is True
    assert recorder.received == []


# URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://relay.example.com", ("relay.example.com", 25, "none", None, None)),
        ("smtp://relay.example.com?starttls=1", ("relay.example.com", 25, "starttls", None, None)),
        ("smtp://relay.example.com:2525?starttls=0",
         ("relay.example.com", 2525, "none", None, None)),
        ("smtp+starttls://ann:s%40cret%3A1@relay.example.com",
         ("relay.example.com", 587, "starttls", "ann", "s@cret:1")),
        ("smtps://relay.example.com", ("relay.example.com", 465, "tls", None, None)),
        ("smtps://u%2Bx:p@Relay.Example.com:2465/", ("relay.example.com", 2465, "tls", "u+x", "p")),
        ("SMTPS://[::1]", ("::1", 465, "tls", None, None)),
    ],
)
def test_from_url_reads_scheme_host_port_and_decoded_credentials(
    url: str, expected: tuple[str, int, str, str | None, str | None]
) -> None:
    mailer = SmtpMailer.from_url(url)

    assert (mailer.host, mailer.port, mailer.security, mailer.username,
            mailer._password) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://relay.example.com", "scheme"),
        ("relay.example.com:25", "scheme"),
        ("smtp://", "no host"),
        ("smtp://user:hunter2@relay.example.com:99999", "port"),
        ("smtp://user:hunter2@relay.example.com:abc", "port"),
        ("smtp://ann@relay.example.com", "credentials"),
        ("smtp://:hunter2@relay.example.com", "credentials"),
        ("smtp://relay.example.com?tls=1", "unknown parameter 'tls'"),
        ("smtps://relay.example.com?starttls=1", "only allowed with smtp://"),
        ("smtp://relay.example.com?starttls=maybe", "must be 1 or 0"),
        ("smtp://relay.example.com/inbox", "path"),
    ],
)
def test_from_url_rejects_a_bad_url_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        SmtpMailer.from_url(url)

    assert "hunter2" not in str(caught.value)
