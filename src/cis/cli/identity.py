"""Who invitations come from and where replies go, for local runs that may have no settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TextIO

from cis.cli.inputs import UsageError
from cis.messages.invite_rules import address_problem

LOCAL_SENDER = "invites@localhost"
LOCAL_RSVP_EMAIL = "rsvp@localhost"


@dataclass(frozen=True, slots=True)
class Identity:
    """The From template and the RSVP address."""

    sender: str
    rsvp_email: str


def resolve_identity(
    sender: str | None, rsvp_email: str | None, environ: Mapping[str, str], notices: TextIO
) -> Identity:
    """Take the flags, then SENDER / RSVP_EMAIL, then local defaults (said once, on stderr).

    A newcomer's first run needs no configuration, so the defaults are addresses that can
    only ever reach this machine.
    """
    chosen_sender = sender or environ.get("SENDER", "").strip() or None
    chosen_rsvp = rsvp_email or environ.get("RSVP_EMAIL", "").strip() or None
    defaulted = []
    if chosen_sender is None:
        chosen_sender = LOCAL_SENDER
        defaulted.append(f"sender {LOCAL_SENDER} (--sender or SENDER)")
    if chosen_rsvp is None:
        chosen_rsvp = LOCAL_RSVP_EMAIL
        defaulted.append(f"RSVP address {LOCAL_RSVP_EMAIL} (--rsvp-email or RSVP_EMAIL)")
    if defaulted:
        notices.write("cis: using the local " + " and ".join(defaulted) + "\n")
    _check(chosen_sender, "--sender / SENDER")
    _check(chosen_rsvp, "--rsvp-email / RSVP_EMAIL")
    return Identity(sender=chosen_sender, rsvp_email=chosen_rsvp)


def _check(value: str, where: str) -> None:
    """Refuse what is not an address, and a domain that is not ASCII as the settings do.

    Names such as `localhost`, which the address rules refuse for attendees, stay allowed:
    a local run may send to its own machine.
    """
    _, address = parseaddr(value)
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise UsageError(f"{where}: {value!r} is not an email address")
    if not address.isascii():
        raise UsageError(f"{where}: {address!r} is not an email address cis can send with: "
                         f"{address_problem(address)}")
