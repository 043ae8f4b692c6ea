"""cis, the Calendar Invite Server: one iMIP invitation per attendee, exactly once, counted."""

from cis.adapters.memory import InMemoryInviteQueue, InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.config import Settings
from cis.domain.model import (
    AttendeeRecord,
    Event,
    EventStatus,
    Invitee,
    InviteRequest,
    InviteState,
    PartStat,
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
)
from cis.messages.invite_format import encode_request, parse_body
from cis.ports import InviteQueue, InviteRepository, Mailer, OutgoingMessage, RawEmail
from cis.ports.queue import QueueRecord
from cis.services.invites import InviteService
from cis.services.reports import BatchReport, Outcome, RecordResult

__all__ = [
    "AttendeeRecord",
    "BatchReport",
    "CisError",
    "ConfigurationError",
    "Event",
    "EventStatistics",
    "EventStatus",
    "InMemoryInviteQueue",
    "InMemoryInviteRepository",
    "InMemoryMailer",
    "InvalidRequestError",
    "Invitation",
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
    "QueueRecord",
    "RawEmail",
    "RecordResult",
    "RepositoryError",
    "Settings",
    "build_service",
    "compose_invitation",
    "encode_request",
    "parse_body",
]
