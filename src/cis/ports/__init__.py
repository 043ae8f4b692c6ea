"""The abstract edges of cis: what it needs from a queue, a mailer and a store."""

from cis.ports.feedback import DeliveryFeedbackStore, SuppressionList
from cis.ports.intake import Intake
from cis.ports.mailer import Mailer, RawEmail
from cis.ports.message_store import MessageStore
from cis.ports.queue import InviteQueue, OutgoingMessage, QueueRecord
from cis.ports.repository import InviteRepository

__all__ = [
    "DeliveryFeedbackStore", "Intake", "InviteQueue", "InviteRepository", "Mailer",
    "MessageStore", "OutgoingMessage", "QueueRecord", "RawEmail", "SuppressionList",
]
