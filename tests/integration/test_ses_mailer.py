"""SesMailer against moto's SES v2 over HTTP, and its error mapping through botocore's Stubber."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from cis.adapters.ses import SesMailer
from cis.domain.model import Invitee
from cis.domain.rendering.imip import compose_invitation
from cis.errors import MailerError
from cis.messages.feedback_tags import event_uid_from_tags
from cis.ports.mailer import RawEmail
from tests.support import FROZEN_NOW, RSVP_EMAIL, sample_event

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1,
                    read_timeout=5)


@pytest.fixture
def sesv2_client(moto_server: str, aws_region: str) -> SESV2Client:
    return boto3.client("sesv2", endpoint_url=moto_server, region_name=aws_region,
                        config=NO_RETRIES)


@pytest.fixture
def verified_sender(sesv2_client: SESV2Client) -> str:
    """A sender address verified in moto; unique, since moto's state lives for the session."""
    address = f"invites-{uuid.uuid4().hex[:12]}@mailer.example.com"
    sesv2_client.create_email_identity(EmailIdentity=address)
    return address


def invitation(sender: str, recipient: str = "ann.lee@example.org") -> RawEmail:
    rendered = compose_invitation(
        sample_event(), Invitee(recipient, name="Ann Lee"),
        sender=f"{{}} via Invites <{sender}>", rsvp_email=RSVP_EMAIL,
        now=FROZEN_NOW, email_id="fixed-id",
    )
    return RawEmail(sender=rendered.envelope_sender, recipient=rendered.recipient,
                    data=rendered.data, event_uid="launch-2026")


def moto_sent(region: str, message_id: str) -> Any:
    """The message moto's SES store holds under `message_id` (v2 raw sends land in v1's store)."""
    sent = ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages
    matches = [m for m in sent if m.id == message_id]
    assert len(matches) == 1
    return matches[0]


def test_verified_sender_sends_and_gets_the_ses_message_id(
    sesv2_client: SESV2Client, verified_sender: str, aws_region: str
) -> None:
    mailer = SesMailer(client=sesv2_client)
    message_id = mailer.send(invitation(verified_sender))
    stored = moto_sent(aws_region, message_id)
    assert stored.source == verified_sender
    assert "ann.lee@example.org" in stored.destinations


def test_raw_bytes_reach_ses_unchanged(
    sesv2_client: SESV2Client, verified_sender: str, aws_region: str
) -> None:
    email = invitation(verified_sender)
    assert b"\r\n" in email.data
    message_id = SesMailer(client=sesv2_client).send(email)
    # moto keeps the raw message as text decoded from UTF-8; encoding it back must give our bytes.
    assert moto_sent(aws_region, message_id).raw_data.encode("utf-8") == email.data


def test_mailer_builds_its_own_client_when_none_is_injected(
    moto_server: str, aws_region: str, verified_sender: str
) -> None:
    mailer = SesMailer(region=aws_region, endpoint_url=moto_server)
    assert mailer.client.meta.region_name == aws_region
    assert mailer.send(invitation(verified_sender))


def test_moto_refuses_an_unverified_sender_and_nothing_is_sent(
    sesv2_client: SESV2Client, aws_region: str
) -> None:
    sender = f"nobody-{uuid.uuid4().hex[:12]}@unverified.example.net"
    with pytest.raises(MailerError) as caught:
        SesMailer(client=sesv2_client).send(invitation(sender))
    assert "MessageRejected" in str(caught.value)
    sent = ses_backends[DEFAULT_ACCOUNT_ID][aws_region].sent_messages
    assert [message for message in sent if message.source == sender] == []
    # moto words this refusal its own way; how SES's wording is classified (transient and
    # account level) is held by the "unverified address" case of the table below.


def test_configuration_set_is_passed_only_when_configured(sesv2_client: SESV2Client) -> None:
    email = invitation("invites@mailer.example.com")
    common = {
        "FromEmailAddress": email.sender,
        "Destination": {"ToAddresses": [email.recipient]},
        "Content": {"Raw": {"Data": email.data}},
        "EmailTags": [{"Name": "cis-event", "Value": "launch-2026"}],
    }
    with Stubber(sesv2_client) as stubber:
        stubber.add_response("send_email", {"MessageId": "with-set"},
                             {**common, "ConfigurationSetName": "invites"})
        stubber.add_response("send_email", {"MessageId": "without-set"}, common)
        assert SesMailer(client=sesv2_client, configuration_set="invites").send(email) == (
            "with-set"
        )
        assert SesMailer(client=sesv2_client).send(email) == "without-set"
        stubber.assert_no_pending_responses()


def test_each_send_is_tagged_with_its_event_uid_for_the_reports_about_it(
    sesv2_client: SESV2Client, verified_sender: str,
) -> None:
    sent: list[dict[str, Any]] = []
    sesv2_client.meta.events.register(
        "provide-client-params.sesv2.SendEmail",
        lambda params, **_: sent.append(params))
    email = invitation(verified_sender)
    uid = "team.sync+2027@example.org"

    assert SesMailer(client=sesv2_client).send(replace(email, event_uid=uid))

    [request] = sent
    tags = {tag["Name"]: [tag["Value"]] for tag in request["EmailTags"]}
    assert tags == {"cis-event": ["team_2Esync_2B2027_40example_2Eorg"]}
    assert event_uid_from_tags(tags) == uid


def test_a_uid_too_long_for_the_tags_is_sent_untagged(sesv2_client: SESV2Client) -> None:
    email = replace(invitation("invites@mailer.example.com"), event_uid="é" * 255)
    with Stubber(sesv2_client) as stubber:
        stubber.add_response("send_email", {"MessageId": "untagged"}, {
            "FromEmailAddress": email.sender,
            "Destination": {"ToAddresses": [email.recipient]},
            "Content": {"Raw": {"Data": email.data}},
        })
        assert SesMailer(client=sesv2_client).send(email) == "untagged"


# (code, message, HTTP status, transient, account_level)
ERROR_CASES = [
    pytest.param("TooManyRequestsException", "Too many requests", 429, True, False,
                 id="throttling by SES is transient"),
    pytest.param("ThrottlingException", "Rate exceeded", 400, True, False,
                 id="a throttling exception is transient"),
    pytest.param("LimitExceededException", "Maximum sending rate exceeded", 400, True, False,
                 id="an exhausted sending quota is transient"),
    pytest.param("InternalFailure", "Internal failure", 500, True, False,
                 id="an internal failure is transient"),
    pytest.param("ServiceUnavailable", "Service unavailable", 503, True, False,
                 id="an unavailable service is transient"),
    pytest.param("SomethingNew", "Bad gateway", 502, True, False,
                 id="any 5xx is transient"),
    pytest.param("MessageRejected", "Illegal address", 400, False, False,
                 id="a rejected message is permanent for that invite"),
    pytest.param("BadRequestException", "Missing final '@domain'", 400, False, False,
                 id="a bad recipient is permanent for that invite"),
    pytest.param("MessageRejected",
                 "Email address is not verified. The following identities failed the check "
                 "in region US-EAST-1: invites@example.com", 400, True, True,
                 id="an unverified address is transient and account level"),
    pytest.param("MailFromDomainNotVerifiedException", "MAIL FROM domain not verified", 400,
                 True, True, id="an unverified mail from domain is transient and account level"),
    pytest.param("AccountSuspendedException", "Account suspended", 400, True, True,
                 id="a suspended account is transient and account level"),
    pytest.param("SendingPausedException", "Sending paused", 400, True, True,
                 id="paused sending is transient and account level"),
    pytest.param("NotFoundException", "Configuration set <invites> does not exist", 404,
                 True, True, id="a missing configuration set is transient and account level"),
]


@pytest.mark.parametrize(("code", "message", "status", "transient", "account_level"),
                         ERROR_CASES)
def test_ses_error_maps_to_mailer_error(
    sesv2_client: SESV2Client, code: str, message: str, status: int, transient: bool,
    account_level: bool,
) -> None:
    with Stubber(sesv2_client) as stubber:
        stubber.add_client_error("send_email", service_error_code=code,
                                 service_message=message, http_status_code=status)
        with pytest.raises(MailerError) as caught:
            SesMailer(client=sesv2_client).send(invitation("invites@mailer.example.com"))
    assert (caught.value.transient, caught.value.account_level) == (transient, account_level)
    assert code in str(caught.value)


@pytest.mark.parametrize(("code", "message", "throttled", "account_level"), [
    ("TooManyRequestsException", "Too many requests", True, False),
    ("ThrottlingException", "Maximum sending rate exceeded.", True, False),
    ("Throttling", "Maximum sending rate exceeded.", True, False),
    ("LimitExceededException", "Maximum sending rate exceeded", True, False),
    ("ThrottlingException", "Daily message quota exceeded.", False, True),
    ("Throttling", "Daily message quota exceeded", False, True),
    ("InternalFailure", "Internal failure", False, False),
    ("MessageRejected", "Illegal address", False, False),
])
def test_sending_too_fast_is_throttled_and_a_spent_daily_quota_is_account_level(
    sesv2_client: SESV2Client, code: str, message: str, throttled: bool, account_level: bool,
) -> None:
    # SES words both refusals the same way but for the reason: "Maximum sending rate
    # exceeded" passes within a second, "Daily message quota exceeded" within hours.
    with Stubber(sesv2_client) as stubber:
        stubber.add_client_error("send_email", service_error_code=code,
                                 service_message=message, http_status_code=400)
        with pytest.raises(MailerError) as caught:
            SesMailer(client=sesv2_client).send(invitation("invites@mailer.example.com"))
    assert (caught.value.throttled, caught.value.account_level) == (throttled, account_level)


def _raising(error: Exception) -> Callable[..., None]:
    def hook(**_: Any) -> None:
        raise error
    return hook


NETWORK_CASES = [
    pytest.param(EndpointConnectionError(endpoint_url="https://email.example"),
                 id="a refused connection is transient"),
    pytest.param(ConnectTimeoutError(endpoint_url="https://email.example"),
                 id="a connect timeout is transient"),
    pytest.param(ReadTimeoutError(endpoint_url="https://email.example"),
                 id="a read timeout is transient"),
    pytest.param(ConnectionClosedError(endpoint_url="https://email.example"),
                 id="a dropped connection is transient"),
]


@pytest.mark.parametrize("error", NETWORK_CASES)
def test_network_failure_maps_to_transient_mailer_error(
    sesv2_client: SESV2Client, error: Exception
) -> None:
    sesv2_client.meta.events.register("before-call.sesv2.SendEmail", _raising(error))
    with pytest.raises(MailerError) as caught:
        SesMailer(client=sesv2_client).send(invitation("invites@mailer.example.com"))
    assert caught.value.transient
    assert not caught.value.account_level
    assert caught.value.__cause__ is error


def test_unreachable_endpoint_is_a_transient_error(aws_region: str) -> None:
    # Port 9 (discard) is closed on a test machine: the connection is refused at once.
    client = boto3.client("sesv2", endpoint_url="http://127.0.0.1:9", region_name=aws_region,
                          config=NO_RETRIES)
    with pytest.raises(MailerError) as caught:
        SesMailer(client=client).send(invitation("invites@mailer.example.com"))
    assert caught.value.transient
