"""A mailer that hands each invitation to an SMTP server (a relay, a smarthost, or Mailpit)."""

from __future__ import annotations

import smtplib
import ssl
from email import policy
from email.parser import BytesHeaderParser
from email.utils import make_msgid
from typing import Literal, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

from cis.adapters.closing import ClosedOnExit
from cis.errors import MailerError
from cis.ports.mailer import RawEmail

__all__ = ["Security", "SmtpMailer"]

Security = Literal["starttls", "tls", "none"]

_SECURITIES: tuple[str, ...] = get_args(Security)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
#: URL scheme -> (security, default port).
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("none", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


class SmtpMailer(ClosedOnExit):
    """Sends over one SMTP connection that is opened on the first send and kept for the batch.

    Opening a connection costs a TCP handshake, a TLS handshake and a login; a batch of
    invitations pays that once. A reused connection the server has since closed (idle timeout)
    is reopened once and the message retried. Not thread-safe: give each worker its own mailer.

    `ssl_context` is used for STARTTLS and implicit TLS; without one,
    `ssl.create_default_context()` verifies the certificate and the host name.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Check the settings now, so a misconfiguration fails at start-up, not mid-batch."""
        if not host:
            raise ValueError("SMTP host is empty")
        if security not in _SECURITIES:
            raise ValueError(f"SMTP security must be one of {_SECURITIES}, not {security!r}")
        if (username is None) != (password is None):
            raise ValueError("SMTP username and password must be given together")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._ssl_context = ssl_context
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> SmtpMailer:
        """Build a mailer from one setting such as `smtp+starttls://user:pa%40ss@relay:587`.

        The scheme alone decides the security, never the server's offer, so a network attacker
        who strips STARTTLS from the greeting cannot downgrade to plain text:

        - `smtp://` plain text (port 25), unless `?starttls=1` asks for STARTTLS;
        - `smtp+starttls://` STARTTLS, required (port 587);
        - `smtps://` implicit TLS from the first byte (port 465).

        Credentials are percent-decoded, so `@`, `:` and `/` in a password are written `%40`,
        `%3A` and `%2F`.

        Raises:
            ValueError: naming what is wrong with the URL (the password is never shown).

        """
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(
                f"SMTP URL scheme must be one of {sorted(_SCHEMES)}, not {parts.scheme!r}"
            )
        security, default_port = _SCHEMES[scheme]
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        try:
            port = parts.port or default_port
        except ValueError as exc:
            raise ValueError(f"SMTP URL port is not a number from 1 to 65535: {exc}") from None
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("SMTP URL must not have a path or fragment")
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name != "starttls":
                raise ValueError(f"SMTP URL has an unknown parameter {name!r}")
            if scheme != "smtp":
                raise ValueError("SMTP URL parameter 'starttls' is only allowed with smtp://")
            if value.lower() in _TRUE:
                security = "starttls"
            elif value.lower() not in _FALSE:
                raise ValueError(f"SMTP URL parameter 'starttls' must be 1 or 0, not {value!r}")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if username is not None and (not username or password is None):
            raise ValueError("SMTP URL credentials must be both a user name and a password")
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=username,
            password=password,
            timeout=timeout,
        )

    def send(self, email: RawEmail) -> str:
        """Send the bytes exactly as given; the returned id is the message's own Message-ID.

        Raises:
            MailerError: transient for 4xx replies, lost connections and timeouts; permanent
                for 5xx replies and for a recipient SMTP cannot carry as written (not
                printable ASCII); transient and `account_level` when the login or the
                sender address is refused, or the sender cannot be carried, since every
                invitation would then fail the same way.

        """
        refused = _unwritable_envelope(email)
        if refused is not None:
            raise refused
        message_id = _message_id(email.data, self.host)
        reused = self._connection is not None
        try:
            self._deliver(email)
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            if not reused:
                raise _translate(exc) from exc
            # The server closed the idle connection since the last send: reopen it once.
            try:
                self._deliver(email)
            except (smtplib.SMTPException, OSError) as retry_exc:
                raise self._failed(retry_exc) from retry_exc
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failed(exc) from exc
        return message_id

    def close(self) -> None:
        """Say QUIT and forget the connection; the next send opens a new one."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()

    def _deliver(self, email: RawEmail) -> None:
        """One mail transaction; one that fails never stays open for the next message.

        smtplib sends RSET after most refusals, but not after a refused DATA command, nor
        when it raises between commands; the server would then answer the next MAIL FROM
        with `503 nested MAIL command`. So every failure the server answered ends with RSET,
        and a connection in any other state (a timeout, an interruption) is dropped.
        """
        connection = self._connection or self._connect()
        try:
            connection.sendmail(email.sender, [email.recipient], email.data)
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException:
            self._reset(connection)
            raise
        except BaseException:
            self._drop()
            raise

    def _reset(self, connection: smtplib.SMTP) -> None:
        """End the failed transaction with RSET; a server that does not agree is hung up on."""
        try:
            code, _ = connection.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()

    def _drop(self) -> None:
        """Forget the connection without QUIT: in an unknown state, QUIT could be read as data."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _failed(self, exc: smtplib.SMTPException | OSError) -> MailerError:
        """Translate `exc`, dropping the connection unless the server left it usable.

        `_deliver` reset what the server answered; after anything else (a socket error, a
        timeout) its state is unknown.
        """
        if not isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
            self._drop()
        return _translate(exc)

    def _connect(self) -> smtplib.SMTP:
        context = self._ssl_context or ssl.create_default_context()
        connection: smtplib.SMTP
        try:
            if self.security == "tls":
                connection = smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=self.local_hostname,
                    timeout=self.timeout, context=context,
                )
            else:
                connection = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.local_hostname,
                    timeout=self.timeout,
                )
        except (smtplib.SMTPException, OSError) as exc:
            raise _translate(exc, connecting=True) from exc
        try:
            connection.ehlo()
            if self.security == "starttls":
                connection.starttls(context=context)
                connection.ehlo()
            if self.username is not None and self._password is not None:
                connection.login(self.username, self._password)
        except (smtplib.SMTPException, OSError) as exc:
            connection.close()
            raise _translate(exc, connecting=True) from exc
        self._connection = connection
        return connection


def _envelope_problem(address: str) -> str | None:
    """Why SMTP cannot carry `address` in MAIL FROM or RCPT TO as written, or None.

    Printable ASCII only: cis sends without SMTPUTF8, as the addresses it accepts are ASCII
    (an internationalised domain is written in its `xn--` form), and a line break or a
    control character would end the command early.
    """
    if all("!" <= ch <= "~" for ch in address):
        return None
    if not address.isascii():
        return "is not ASCII, and cis sends without SMTPUTF8"
    return "holds a space, a line break or a control character"


def _unwritable_envelope(email: RawEmail) -> MailerError | None:
    """The error for an envelope SMTP cannot carry, found before any command is sent."""
    problem = _envelope_problem(email.sender)
    if problem is not None:
        return MailerError(f"SMTP sender {email.sender!r} {problem}; every invitation from it "
                           "will fail", transient=True, account_level=True)
    problem = _envelope_problem(email.recipient)
    if problem is not None:
        return MailerError(f"SMTP recipient {email.recipient!r} {problem}", transient=False)
    return None


def _message_id(data: bytes, host: str) -> str:
    """The Message-ID the recipient will see, read from the headers only; made up if absent."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    value = headers.get("Message-ID")
    if value is not None and str(value).strip():
        return str(value).strip()
    return make_msgid(domain=host)


def _translate(exc: smtplib.SMTPException | OSError, *, connecting: bool = False) -> MailerError:
    """Map an smtplib or socket error to a `MailerError` marked by what a retry could change.

    Failures while connecting, greeting or logging in are `account_level`: they do not depend
    on the message, so every invitation in the batch would meet them too.
    """
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailerError(
            f"SMTP login refused ({exc.smtp_code}); every invitation will fail until the "
            "credentials are fixed",
            transient=True, account_level=True,
        )
    quota = _quota_refusal(exc)
    if quota is not None:
        return quota
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return MailerError(
            f"SMTP server refused sender {exc.sender!r} ({exc.smtp_code} {_text(exc.smtp_error)}); "
            "every invitation from it will fail",
            transient=True, account_level=True,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        return _by_code(code, f"SMTP server refused the recipient: {code} {_text(reply)}",
                        account_level=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"SMTP error {exc.smtp_code} {_text(exc.smtp_error)}",
                        account_level=connecting)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return MailerError(f"SMTP connection lost: {exc}", transient=True)
    if isinstance(exc, smtplib.SMTPException):
        # STARTTLS or AUTH not offered while connecting (configuration: retry after a fix), or
        # a message the server cannot take (an SMTPUTF8 address without SMTPUTF8 support).
        return MailerError(f"SMTP error: {exc}", transient=connecting, account_level=connecting)
    # Socket errors, timeouts and TLS failures; smtplib's own errors subclass OSError too,
    # hence this comes last. An untrusted certificate fails every send until it is fixed.
    return MailerError(f"SMTP connection failed: {exc}", transient=True,
                       account_level=isinstance(exc, ssl.SSLCertVerificationError))


def _quota_refusal(exc: smtplib.SMTPException | OSError) -> MailerError | None:
    """A 4xx reply that refuses for the sending rate or the day's quota, as SES words it.

    SES answers `454 Throttling failure: Maximum sending rate exceeded` (the next second may
    take the message) or `454 Throttling failure: Daily message quota exceeded` (nothing goes
    through until the 24-hour window moves on), at whichever step of the dialogue.
    """
    if not isinstance(exc, smtplib.SMTPResponseException) or not 400 <= exc.smtp_code <= 499:
        return None
    text = _text(exc.smtp_error)
    words = text.lower()
    message = f"SMTP server refused for its quota ({exc.smtp_code} {text})"
    if "daily message quota exceeded" in words:
        return MailerError(message, transient=True, account_level=True)
    if "maximum sending rate exceeded" in words or "throttling" in words:
        return MailerError(message, transient=True, throttled=True)
    return None


def _by_code(code: int, message: str, *, account_level: bool) -> MailerError:
    """4xx means try again later (RFC 5321 section 4.2.1); 5xx means never, as sent."""
    return MailerError(message, transient=not 500 <= code <= 599, account_level=account_level)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
