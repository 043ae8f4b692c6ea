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

    def stored(self, event: Event) -> EventRecord:
        """The event's stored version, once `event`'s version is recorded (if it is newer).

        What is returned may be older than the store by now (another consumer may have
        recorded a newer version since): a batch reads `event_sequence` once its sends are
        recorded, to catch what a newer version overtook.

        Raises:
            cis.errors.RepositoryError: the version could not be read or stored.

        """
        with self._lock:
            known = self._known.get(event.uid)
        if known is None or known.sequence < event.sequence:
            known = self._repository.record_event(event)
            self._remember(known)
        return known

    def recorded(self, event: Event) -> EventRecord:
        """`stored`, read from the store now whatever is remembered (a fan-out's progress).

        Raises:
            cis.errors.RepositoryError: the version could not be read or stored.

        """
        known = self._repository.record_event(event)
        self._remember(known)
        return known

    def current(self, event_uid: str) -> EventRecord | None:
        """The event's stored version, read from the store now, and remembered.

        Raises:
            cis.errors.RepositoryError: the version could not be read.

        """
        known = self._repository.get_event(event_uid)
        if known is not None:
            self._remember(known)
        return known

    def saw(self, event_uid: str, sequence: int) -> None:
        """A newer SEQUENCE was read: forget the older version, so `stored` reads it again."""
        with self._lock:
            known = self._known.get(event_uid)
            if known is not None and known.sequence < sequence:
                del self._known[event_uid]

    def _remember(self, known: EventRecord) -> None:
        uid = known.event.uid
        with self._lock:
            held = self._known.get(uid)
            if held is None or held.sequence <= known.sequence:
                self._known[uid] = known
            self._known.move_to_end(uid)
            while len(self._known) > self._size:
                self._known.popitem(last=False)
