"""What each message of an invitation's life tells a person: its subject, first and last words."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cis.domain.model import Event, Standing


class MessageKind(StrEnum):
    """Which message of an invitation's life one email is."""

    #: The first version of the event (SEQUENCE 0), or the first an attendee gets: a REQUEST.
    INVITATION = "invitation"
    #: A later version (SEQUENCE above 0), a REQUEST that asks for an answer again.
    UPDATE = "update"
    #: The whole event is cancelled: a CANCEL with STATUS:CANCELLED.
    CANCELLATION = "cancellation"
    #: The attendee is taken off an event that goes on: a CANCEL to them alone.
    REMOVAL = "removal"

    @classmethod
    def of(cls, event: Event, standing: Standing, *, first: bool = False) -> MessageKind:
        """The kind of the message that leaves an attendee of `event` at `standing`.

        `first` says the attendee was sent nothing before: a later version then reads as
        their invitation, not as an update of one they never had.
        """
        if standing is Standing.CANCELLED:
            return cls.CANCELLATION
        if standing is Standing.REMOVED:
            return cls.REMOVAL
        return cls.UPDATE if event.sequence > 0 and not first else cls.INVITATION


@dataclass(frozen=True, slots=True)
class Wording:
    """The fixed words of one kind of message; the caller's text goes between them.

    The subject is `subject_prefix` and the summary; the bodies open with the organiser's
    name, `headline` and the summary, and end with `closing`. None of it names the
    attendee, so that one rendering of the bodies serves every attendee of an event.
    """

    subject_prefix: str
    headline: str
    closing: str


_ANSWER = ("Answer with your calendar's Accept, Maybe or Decline buttons, "
           "or open the attached invite.ics.")
_STILL_SHOWN = "If your calendar still shows it, open the attached invite.ics to remove it."

#: The words of each kind, in the manner of Google Calendar's and Outlook's notices ("Updated
#: invitation: ...", "Cancelled: ..."); an invitation's subject is the event's summary alone.
WORDING = {
    MessageKind.INVITATION: Wording("", "invites you to", _ANSWER),
    MessageKind.UPDATE: Wording(
        "Updated invitation: ", "has updated the invitation to", _ANSWER),
    MessageKind.CANCELLATION: Wording(
        "Cancelled: ", "has cancelled", f"The event will not take place. {_STILL_SHOWN}"),
    MessageKind.REMOVAL: Wording(
        "Removed from event: ", "has removed you from",
        f"The event goes on without you. {_STILL_SHOWN}"),
}
