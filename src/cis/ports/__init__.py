"""The abstract edges of cis: what it needs from a queue, a mailer and a store."""

from cis.ports.mailer import Mailer, RawEmail
from cis.ports.message_store import MessageStore
from cis.ports.queue import InviteQueue, OutgoingMessage
from cis.ports.repository import InviteRepository

__all__ = [
    "InviteQueue", "InviteRepository", "Mailer", "MessageStore", "OutgoingMessage", "RawEmail",
]
