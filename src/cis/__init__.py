"""cis, the Calendar Invite Server: one iMIP invitation per attendee, exactly once, counted."""

from cis.adapters.memory import InMemoryInviteQueue, InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.config import Settings
from cis.domain.model import (
    AttendeeRecord,
    Event,
    EventStatus,
    FanOut,
    InviteAction,
    Invitee,
    InviteRequest,
    InviteState,
    PartStat,
    QueueMessage,
    Resend,
    Standing,
)
from cis.domain.rendering.imip import Invitation, compose_invitation
from cis.domain.statistics import EventStatistics
from cis.errors import (
    CisError,
    ConfigurationError,
    InvalidRequestError,
    MailerError,
    QueueError,
    RepositoryError,
    UnknownVersionError,
)
from cis.messages.invite_format import encode_message, encode_request, parse_body, parse_message
from cis.ports import InviteQueue, InviteRepository, Mailer, OutgoingMessage, RawEmail
from cis.ports.queue import QueueRecord
from cis.services.invites import InviteService
from cis.services.producer import enqueue_invites, enqueue_messages
from cis.services.reports import BatchReport, Outcome, RecordResult, SentAs

__all__ = [
    "AttendeeRecord",
    "BatchReport",
    "CisError",
    "ConfigurationError",
    "Event",
    "EventStatistics",
    "EventStatus",
    "FanOut",
    "InMemoryInviteQueue",
    "InMemoryInviteRepository",
    "InMemoryMailer",
    "InvalidRequestError",
    "Invitation",
    "InviteAction",
    "InviteQueue",
    "InviteRepository",
    "InviteRequest",
    "InviteService",
    "InviteState",
    "Invitee",
    "Mailer",
    "MailerError",
    "Outcome",
    "OutgoingMessage",
    "PartStat",
    "QueueError",
    "QueueMessage",
    "QueueRecord",
    "RawEmail",
    "RecordResult",
    "RepositoryError",
    "Resend",
    "SentAs",
    "Settings",
    "Standing",
    "UnknownVersionError",
    "build_service",
    "compose_invitation",
    "encode_message",
    "encode_request",
    "enqueue_invites",
    "enqueue_messages",
    "parse_body",
    "parse_message",
]
