"""Reading the version an attendee was sent, also from records stored before versions existed."""

from __future__ import annotations

from cis.domain.model import InviteState, Standing

__all__ = ["stored_version"]


def stored_version(
    state: InviteState, sequence: int | None, standing: str | None
) -> tuple[int | None, Standing | None]:
    """The SEQUENCE and standing of the last message an attendee was sent, as stored.

    A record written before versions were stored has neither; if it says `sent`, its one
    message was the first invitation (SEQUENCE 0): every later version is above it.
    """
    if sequence is None and state is InviteState.SENT:
        sequence = 0
    if sequence is None:
        return None, None
    return sequence, Standing(standing) if standing else Standing.INVITED
