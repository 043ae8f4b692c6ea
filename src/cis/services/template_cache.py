"""The message templates of the event versions a service sent most recently."""

from __future__ import annotations

import threading
from collections import OrderedDict

from cis.domain.model import Event, Standing
from cis.domain.rendering.invitation_template import InvitationTemplate

TEMPLATE_CACHE_SIZE = 32
"""How many events' rendered invitations a service keeps, most recently used first."""


class TemplateCache:
    """Renders each event's invitation once while the event stays among the recent ones.

    A batch usually holds many attendees of few events; building a template costs about as
    much as composing one invitation, and each attendee after that costs a fraction of it.
    """

    def __init__(self, size: int | None = None) -> None:
        """Keep `size` templates (default: `TEMPLATE_CACHE_SIZE`, read when first needed)."""
        self._size = size
        self._templates: OrderedDict[tuple[object, ...], InvitationTemplate] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, event: Event, *, sender: str, rsvp_email: str,
        standing: Standing = Standing.INVITED, first: bool = False,
    ) -> InvitationTemplate:
        """The event's template for this sender and RSVP address, and for `standing`.

        `standing` says which message: an invitation or update, a removal, a cancellation;
        `first`, that a later version is the first the attendees get (see `MessageKind.of`).

        The key holds the start and end as written as well as the event: datetimes compare
        equal across zones (10:00 in Berlin is 09:00 UTC) but render differently.

        Raises:
            ValueError: no invitation can describe the event (see `InvitationTemplate`).

        """
        key = (event, repr(event.start), repr(event.end), sender, rsvp_email, standing, first)
        with self._lock:
            template = self._templates.pop(key, None)
        if template is None:
            template = InvitationTemplate(event, sender=sender, rsvp_email=rsvp_email,
                                          standing=standing, first=first)
        size = TEMPLATE_CACHE_SIZE if self._size is None else self._size
        with self._lock:
            self._templates[key] = template  # last is most recently used
            while len(self._templates) > size:
                self._templates.popitem(last=False)
        return template
