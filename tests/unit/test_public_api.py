"""The public surface: what `import cis` promises is there, and works as documented."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import cis


def test_every_name_in_all_exists() -> None:
    missing = [name for name in cis.__all__ if not hasattr(cis, name)]
    assert missing == []


def test_every_public_name_of_the_package_is_in_all() -> None:
    # What `import cis` offers besides its subpackages: each name listed, none by accident.
    offered = {name for name, value in vars(cis).items()
               if not name.startswith("_") and not isinstance(value, ModuleType)}
    assert offered == set(cis.__all__)


@pytest.mark.parametrize(("module", "names"), [
    ("cis.adapters.dynamodb", ["DynamoDBInviteRepository"]),
    ("cis.adapters.ses", ["SesMailer"]),
    ("cis.adapters.sqs", ["SqsInviteQueue"]),
    ("cis.adapters.sqlite", ["SqliteInviteRepository"]),
    ("cis.adapters.smtp", ["SmtpMailer"]),
    ("cis.adapters.outbox", ["OutboxMailer"]),
    ("cis.adapters.memory", ["InMemoryInviteRepository", "InMemoryMailer",
                             "InMemoryInviteQueue", "InMemoryMessageStore"]),
    ("cis.adapters.aws", ["client_config", "AwsClients"]),
    ("cis.lambda_handler", ["lambda_handler", "rsvp_handler", "feedback_handler"]),
    ("cis.bootstrap", ["build_service"]),
    ("cis.cli", ["main"]),
])
def test_the_adapters_and_entry_points_stay_at_their_import_paths(
    module: str, names: list[str],
) -> None:
    imported = importlib.import_module(module)
    assert [name for name in names if not callable(getattr(imported, name, None))] == []


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
