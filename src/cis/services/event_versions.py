"""The versions of events a service has recorded, so each batch need not read them again."""

from __future__ import annotations

import threading
from collections import OrderedDict

from cis.domain.events import EventRecord
from cis.domain.model import Event
from cis.ports.repository import InviteRepository

__all__ = ["EVENT_CACHE_SIZE", "EventVersions"]

EVENT_CACHE_SIZE = 256
"""How many events' stored versions a service remembers, most recently used first."""


class EventVersions:
    """Records each event version a request carries, once per service, and says what it means.

    A Lambda container serves many batches of the same event; remembering what it stored
    spares each batch a read. What it remembers can only be older than the store (versions
    only grow), and a version found older than the store is stale however old the memory is.
    """

    def __init__(self, repository: InviteRepository, size: int = EVENT_CACHE_SIZE) -> None:
        self._repository = repository
        self._size = size
        self._known: OrderedDict[str, EventRecord] = OrderedDict()
        self._lock = threading.Lock()

    def answers_from(self, event: Event) -> int | None:
        """The SEQUENCE answers count from for this version; None when a newer one is stored.

        Raises:
            cis.errors.RepositoryError: the version could not be read or stored.

        """
        with self._lock:
            known = self._known.get(event.uid)
        if known is None or known.sequence < event.sequence:
            known = self._repository.record_event(event)
            with self._lock:
                self._known[event.uid] = known
                self._known.move_to_end(event.uid)
                while len(self._known) > self._size:
                    self._known.popitem(last=False)
        if known.sequence > event.sequence:
            return None
        return known.times_changed_at

    def current(self, event_uid: str) -> EventRecord | None:
        """The event's stored version, read from the store (a resend sends exactly that).

        Raises:
            cis.errors.RepositoryError: the version could not be read.

        """
        return self._repository.get_event(event_uid)
