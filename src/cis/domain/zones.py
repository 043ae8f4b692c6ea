"""Time zone names: those the IANA time zone database defines, and no others."""

from __future__ import annotations

from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def iana_names() -> frozenset[str]:
    """Every zone name of the IANA database, as the tzdata package lists them.

    A host's zoneinfo folder may hold names of its own: Debian's `localtime` links to the
    host's local zone, so it names a different zone on every machine and nothing a calendar
    client could look up. Only the database's names are zones an invitation may name, less
    `Factory`: the database's placeholder for a machine whose zone was never set (its
    abbreviation, `-00`, says the local time is unknown), which calendar readers do not know.
    """
    listing = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    names = {line.strip() for line in listing.splitlines() if line.strip()}
    return frozenset(names - {_UNSET_ZONE})


_UNSET_ZONE = "Factory"


def iana_zone(name: str) -> ZoneInfo:
    """The zone the IANA database names `name`.

    Raises:
        ValueError: `name` is not a zone name of the IANA database.

    """
    if name not in iana_names():
        raise ValueError(f"unknown IANA time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValueError(f"unknown IANA time zone {name!r}") from error
