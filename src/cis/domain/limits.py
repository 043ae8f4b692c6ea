"""The bounds of what one event may hold, shared by the validator, the models and the renderer."""

from __future__ import annotations

__all__ = [
    "MAX_DESCRIPTION_HTML_LENGTH", "MAX_DESCRIPTION_LENGTH", "MAX_LINK_LENGTH",
    "MAX_LOCATION_LENGTH", "MAX_REMINDER_MINUTES", "MAX_SUMMARY_LENGTH", "reminder_problem",
]

MAX_SUMMARY_LENGTH = 1000
"""Characters of a summary cis stores and sends; a longer one is cut (`cis.domain.shortening`)."""
MAX_DESCRIPTION_LENGTH = 20_000
"""Characters of a plain-text description; a longer one is cut."""
MAX_DESCRIPTION_HTML_LENGTH = 100_000
"""Characters of an HTML description (before it is sanitised); a longer one is cut."""
MAX_LOCATION_LENGTH = 1000
"""Characters of a location; a longer one is cut."""

MAX_LINK_LENGTH = 2000
"""Characters a meeting link may have: what every browser and mail client opens whole."""

MAX_REMINDER_MINUTES = 40_320
"""The earliest reminder, in minutes before the start: four weeks, Google Calendar's limit."""


def reminder_problem(minutes: int) -> str | None:
    """Why `minutes` cannot be an event's reminder, or None when it can."""
    if minutes < 0:
        return "must be at least 0"
    if minutes > MAX_REMINDER_MINUTES:
        return f"must be at most {MAX_REMINDER_MINUTES}"
    return None
