"""The composition root: the one place where adapters are chosen and wired to the service."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cis.domain.claims import DEFAULT_LEASE
from cis.ports.mailer import Mailer
from cis.ports.repository import InviteRepository
from cis.services.invites import InviteService, random_id, utc_now


def build_service(
    *,
    sender: str,
    rsvp_email: str,
    repository: InviteRepository | None = None,
    mailer: Mailer | None = None,
    claim_lease: dt.timedelta = DEFAULT_LEASE,
    clock: Callable[[], dt.datetime] = utc_now,
    new_id: Callable[[], str] = random_id,
) -> InviteService:
    """Build the invite service; adapters left out default to the in-memory ones.

    The in-memory defaults make `build_service(sender=..., rsvp_email=...)` a working
    pipeline for tests, previews and notebooks; production callers inject durable adapters.
    """
    if repository is None or mailer is None:
        from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer

        repository = repository if repository is not None else InMemoryInviteRepository()
        mailer = mailer if mailer is not None else InMemoryMailer()
    return InviteService(
        repository=repository,
        mailer=mailer,
        sender=sender,
        rsvp_email=rsvp_email,
        claim_lease=claim_lease,
        clock=clock,
        new_id=new_id,
    )
