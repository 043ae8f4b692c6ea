"""The public surface: what `import cis` promises is there, and works as documented."""

from __future__ import annotations

import cis


def test_every_name_in_all_exists() -> None:
    missing = [name for name in cis.__all__ if not hasattr(cis, name)]
    assert missing == []


def test_all_lists_no_private_names_and_no_repeats() -> None:
    assert not [name for name in cis.__all__ if name.startswith("_")]
    assert len(cis.__all__) == len(set(cis.__all__))


def test_readme_library_example_runs() -> None:
    service = cis.build_service(sender="Invites <invites@example.com>",
                                rsvp_email="rsvp@example.com")
    event = cis.Event(
        uid="kickoff-2027", summary="Kick-off",
        start=__import__("datetime").datetime(2027, 1, 11, 9, tzinfo=__import__("datetime").UTC),
        end=__import__("datetime").datetime(2027, 1, 11, 10, tzinfo=__import__("datetime").UTC),
        organizer="Ann Lee", mailto="ann@example.org",
    )
    report = service.send_invites([
        cis.InviteRequest(event, cis.Invitee("bob@example.org", name="Bob")),
        cis.InviteRequest(event, cis.Invitee("BOB@example.org")),
    ])
    assert [r.outcome for r in report.results] == [cis.Outcome.SENT, cis.Outcome.DUPLICATE]
    assert len(service.mailer.messages) == 1  # type: ignore[attr-defined]
    assert service.repository.get_statistics("kickoff-2027").invites_sent == 1
