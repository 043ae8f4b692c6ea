"""The meeting link: which URLs an invitation may carry as its URL and in its bodies."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from cis.domain.limits import MAX_LINK_LENGTH

__all__ = ["LINK_SCHEMES", "link_problem"]

LINK_SCHEMES = frozenset({"http", "https"})
"""A link opens a page: never a script (`javascript:`), a file, or data to run."""

# RFC 3986 section 2: unreserved, reserved and the percent sign; nothing else is a URI's.
_URI_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*"
                   r"[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\]")


def link_problem(url: str) -> str | None:
    """Why `url` cannot be an invitation's meeting link, or None when it can.

    An absolute http or https URL of at most `MAX_LINK_LENGTH` characters, in the characters
    RFC 3986 allows (an address with other characters is written percent-encoded, as a
    browser's address bar copies it), with a host and no user name or password: a link such
    as `https://meet.example.org@evil.example/` shows one host and opens another.
    """
    if len(url) > MAX_LINK_LENGTH:
        return f"must be at most {MAX_LINK_LENGTH} characters"
    if not _URI_CHARACTERS.fullmatch(url):
        return ("must be a URL of the characters RFC 3986 allows: percent-encode spaces, "
                "quotes, non-ASCII and other characters")
    if _BAD_ESCAPE.search(url):
        return "must write each % as the start of an escape such as %20"
    parts = urlsplit(url)
    if parts.scheme.lower() not in LINK_SCHEMES:
        return "must be an http or https URL"
    if not url[len(parts.scheme) + 1:].startswith("//") or not parts.netloc:
        return "must name a host, as https://meet.example.org/room does"
    if "@" in parts.netloc:
        return "must not hold a user name or password before the host"
    host, _, port = parts.netloc.rpartition(":") if not parts.netloc.endswith("]") else (
        parts.netloc, "", "")
    if not host:
        host, port = parts.netloc, ""
    if port and (not port.isdigit() or int(port) > 65535):
        return f"has a port that is not a number from 0 to 65535: {port!r}"
    if not _HOST.fullmatch(host):
        return f"must name a host of letters, digits, dots and hyphens: {host!r}"
    return None
