"""The composition root: the one place where services are built and their adapters chosen.

Every entry point comes here: the library (`build_service`, `build_rsvp_service`,
`build_feedback_service`), the three Lambda functions (`aws_runtime`, `aws_rsvp_runtime`,
`aws_feedback_runtime`) and the `cis` command on one machine (`local_runtime`,
`local_rsvp_runtime`, `local_queue`, `local_suppression_list`, and for the operator commands
`local_store`, `local_dead_letter_queue`). Adapters are imported where they are
chosen, so an entry point loads only the ones it uses: the invite function never loads the
reply path, and a local run never loads boto3 unless it talks to AWS.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cis.adapters.closing import ClosedOnExit
from cis.config import BatchFailureMode, LocalSettings, RsvpSettings, Settings
from cis.domain.claims import DEFAULT_LEASE
from cis.errors import ConfigurationError
from cis.ports.intake import Intake
from cis.ports.mailer import Mailer
from cis.ports.queue import InviteQueue
from cis.ports.repository import InviteRepository
from cis.services.invites import InviteService, StopRequested, random_id, utc_now
from cis.services.outcome_log import LOGGER_NAME
from cis.services.pacing import SendPacer

if TYPE_CHECKING:
    from cis.adapters.aws import AwsClients
    from cis.adapters.sqs import SqsInviteQueue
    from cis.adapters.sqs_redrive import SqsDeadLetterQueue
    from cis.ports.feedback import DeliveryFeedbackStore, SuppressionList
    from cis.ports.message_store import MessageStore
    from cis.services.feedback import FeedbackService
    from cis.services.replies import RsvpService

__all__ = [
    "FeedbackRuntime", "LambdaRuntime", "LocalRsvpRuntime", "LocalRuntime", "LocalStore",
    "LocalSuppressionList", "RsvpRuntime", "aws_feedback_runtime", "aws_rsvp_runtime",
    "aws_runtime", "build_feedback_service", "build_rsvp_service", "build_service",
    "local_dead_letter_queue", "local_queue", "local_rsvp_runtime", "local_runtime",
    "local_store", "local_suppression_list",
]


def build_service(
    *,
    sender: str,
    rsvp_email: str,
    repository: InviteRepository | None = None,
    mailer: Mailer | None = None,
    claim_lease: dt.timedelta = DEFAULT_LEASE,
    clock: Callable[[], dt.datetime] = utc_now,
    new_id: Callable[[], str] = random_id,
    sleep: Callable[[float], None] = time.sleep,
    logger: logging.Logger | None = None,
    max_send_rate: float | None = None,
    relay: InviteQueue | None = None,
    stop_requested: StopRequested | None = None,
) -> InviteService:
    """Build the invite service; adapters left out default to the in-memory ones.

    The in-memory defaults make `build_service(sender=..., rsvp_email=...)` a working
    pipeline for tests, previews and notebooks; production callers inject durable adapters.
    `max_send_rate` paces this service to that many sends per second (left out: as fast as
    the mailer takes them). `relay` is the queue a fan-out puts its per-attendee messages on,
    the one the service consumes (left out: a fan-out sends them itself, page by page).
    `stop_requested` is asked before each record whether to take no more (an interrupted
    command): the record in hand is finished and recorded, the rest handed back untouched.

    Raises:
        ValueError: `max_send_rate` is given and not positive.

    """
    if repository is None or mailer is None:
        from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer

        repository = repository if repository is not None else InMemoryInviteRepository()
        mailer = mailer if mailer is not None else InMemoryMailer()
    pacer = None if max_send_rate is None else SendPacer(max_send_rate, sleep=sleep)
    return InviteService(
        repository=repository, mailer=mailer, sender=sender, rsvp_email=rsvp_email,
        claim_lease=claim_lease, clock=clock, new_id=new_id, sleep=sleep, logger=logger,
        pacer=pacer, relay=relay, stop_requested=stop_requested,
    )


def build_rsvp_service(
    *,
    repository: InviteRepository | None = None,
    store: MessageStore | None = None,
    logger: logging.Logger | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> RsvpService:
    """Build the reply service; a repository left out defaults to the in-memory one.

    Without a `store`, replies arrive as bytes (`apply_mail`) or inline in a notification;
    SES's S3 action needs one. `clock` tells when a reply is read: one whose notification
    does not say when it arrived is taken to have arrived then.
    """
    from cis.services.replies import RsvpService  # the reply path loads icalendar

    if repository is None:
        from cis.adapters.memory import InMemoryInviteRepository

        repository = InMemoryInviteRepository()
    return RsvpService(repository=repository, store=store, logger=logger, clock=clock)


def build_feedback_service(
    *,
    store: DeliveryFeedbackStore | None = None,
    logger: logging.Logger | None = None,
) -> FeedbackService:
    """Build the delivery feedback service; a store left out defaults to the in-memory one."""
    from cis.services.feedback import FeedbackService

    if store is None:
        from cis.adapters.memory import InMemoryInviteRepository

        store = InMemoryInviteRepository()
    return FeedbackService(store=store, logger=logger)


@dataclass(frozen=True, slots=True)
class LambdaRuntime:
    """What the invite function's handler needs, built once per container.

    `intake` is paused when the mail system refuses every send (see `BatchReport.halted`);
    without one, a halt is only logged.
    """

    service: InviteService
    queue: InviteQueue
    batch_failure_mode: BatchFailureMode = BatchFailureMode.REPORT
    intake: Intake | None = None


@dataclass(frozen=True, slots=True)
class RsvpRuntime:
    """What the RSVP function's handler needs, built once per container."""

    service: RsvpService


def aws_runtime(environ: Mapping[str, str] | None = None) -> LambdaRuntime:
    """Wire the invite service to SQS, SES and DynamoDB from the environment.

    Raises:
        cis.errors.ConfigurationError: listing every missing or malformed variable.

    """
    settings = Settings.from_env(os.environ if environ is None else environ)
    clients = _lambda_clients(settings)
    queue = clients.queue(settings.sqs_url)
    service = build_service(
        repository=clients.repository(settings.dynamodb_table),
        mailer=clients.mailer(configuration_set=settings.ses_configuration_set),
        sender=settings.sender, rsvp_email=settings.rsvp_email,
        claim_lease=settings.claim_lease, max_send_rate=settings.send_rate, relay=queue,
    )
    intake = clients.intake(settings.function_name) if settings.function_name else None
    return LambdaRuntime(service=service, queue=queue,
                         batch_failure_mode=settings.batch_failure_mode, intake=intake)


def aws_rsvp_runtime(environ: Mapping[str, str] | None = None) -> RsvpRuntime:
    """Wire the reply service to DynamoDB and S3 from REGION and DYNAMODB_TABLE.

    Raises:
        cis.errors.ConfigurationError: listing every missing or malformed variable.

    """
    settings = RsvpSettings.from_env(os.environ if environ is None else environ)
    clients = _lambda_clients(settings)
    return RsvpRuntime(build_rsvp_service(
        repository=clients.repository(settings.dynamodb_table), store=clients.message_store(),
    ))


@dataclass(frozen=True, slots=True)
class FeedbackRuntime:
    """What the delivery feedback function's handler needs, built once per container."""

    service: FeedbackService


def aws_feedback_runtime(environ: Mapping[str, str] | None = None) -> FeedbackRuntime:
    """Wire the feedback service to DynamoDB from REGION and DYNAMODB_TABLE.

    Raises:
        cis.errors.ConfigurationError: listing every missing or malformed variable.

    """
    settings = RsvpSettings.from_env(os.environ if environ is None else environ)
    clients = _lambda_clients(settings)
    return FeedbackRuntime(build_feedback_service(
        store=clients.repository(settings.dynamodb_table)))


def _lambda_clients(settings: Settings | RsvpSettings) -> AwsClients:
    """A Lambda function's AWS clients, its log level applied first."""
    from cis.adapters.aws import AwsClients

    apply_log_level(settings.log_level)
    return AwsClients(region=settings.region, endpoint_url=settings.endpoint_url)


def apply_log_level(level: str) -> None:
    """Let cis's own records at `level` and above through, whatever the root logger says.

    With Lambda's text log format the runtime leaves the root logger at WARNING; cis's logger,
    set to LOG_LEVEL, passes its INFO outcome records (sent, duplicate, retry) to the runtime's
    handler anyway. With the JSON format the level is Lambda's application log level
    (`Settings.log_level` says which wins).
    """
    logging.getLogger(LOGGER_NAME).setLevel(level)


class _Closing(ClosedOnExit):
    """Closes what a local run opened (the SQLite file, the SMTP connection), in order."""

    _closers: list[Callable[[], None]]

    def close(self) -> None:
        """Close what the run opened."""
        for close in self._closers:
            close()


@dataclass(slots=True)
class LocalRuntime(_Closing):
    """The invite service of one `cis` run, with the adapters it holds open."""

    service: InviteService
    repository: InviteRepository
    mailer: Mailer
    _closers: list[Callable[[], None]] = field(default_factory=list)


@dataclass(slots=True)
class LocalRsvpRuntime(_Closing):
    """The reply service of one `cis rsvp` run, with the store it holds open."""

    service: RsvpService
    repository: InviteRepository
    _closers: list[Callable[[], None]] = field(default_factory=list)


def local_runtime(
    settings: LocalSettings, *, relay: InviteQueue | None = None,
    stop_requested: StopRequested | None = None,
    guard_mailer: Callable[[Mailer], Mailer] | None = None,
) -> LocalRuntime:
    """The invite service for a run on this machine, with the adapters its settings choose.

    State: the SQLite file `settings.state`, or the DynamoDB table `dynamodb_table`. Mail:
    the outbox folder, or the SMTP server of `smtp_url`, or SES when `ses` is set. A worker
    passes the queue it consumes as `relay`, for fan-outs to put their messages on. The
    `cis` command passes `stop_requested` and `guard_mailer` to stop between records on a
    signal, and to abandon a send that hangs on a second one.

    Raises:
        cis.errors.ConfigurationError: the SMTP URL is malformed (nothing is opened then).

    """
    mailer, close_mailer = _local_mailer(settings)
    repository, close_repository = _local_repository(settings)
    service = build_service(
        repository=repository, mailer=guard_mailer(mailer) if guard_mailer else mailer,
        sender=settings.sender, rsvp_email=settings.rsvp_email,
        claim_lease=settings.claim_lease, relay=relay, stop_requested=stop_requested,
    )
    closers = [close for close in (close_mailer, close_repository) if close is not None]
    return LocalRuntime(service=service, repository=repository, mailer=mailer,
                        _closers=closers)


def local_rsvp_runtime(settings: LocalSettings) -> LocalRsvpRuntime:
    """The reply service for `cis rsvp`: replies read from files, applied to the state."""
    repository, close_repository = _local_repository(settings)
    return LocalRsvpRuntime(
        service=build_rsvp_service(repository=repository), repository=repository,
        _closers=[close_repository] if close_repository else [],
    )


@dataclass(slots=True)
class LocalSuppressionList(_Closing):
    """The suppression list of one `cis suppressions` run, with the store it holds open."""

    suppressions: SuppressionList
    _closers: list[Callable[[], None]] = field(default_factory=list)


def local_suppression_list(settings: LocalSettings) -> LocalSuppressionList:
    """The suppression list in the SQLite file `settings.state`, or the DynamoDB table."""
    if settings.dynamodb_table:
        return LocalSuppressionList(_aws_clients(settings).repository(settings.dynamodb_table))
    from cis.adapters.sqlite import SqliteInviteRepository

    repository = SqliteInviteRepository(path=settings.state)
    return LocalSuppressionList(repository, _closers=[repository.close])


def local_queue(settings: LocalSettings) -> SqsInviteQueue:
    """The SQS queue of `settings.queue_url`, for `cis enqueue` and `cis worker`.

    Raises:
        cis.errors.ConfigurationError: no queue URL is set.

    """
    if not settings.queue_url:
        raise ConfigurationError(["no SQS queue URL"])
    return _aws_clients(settings).queue(settings.queue_url)


@dataclass(slots=True)
class LocalStore(_Closing):
    """The repository an operator command reads and repairs (`cis stats`, `cis attendee`)."""

    repository: InviteRepository
    _closers: list[Callable[[], None]] = field(default_factory=list)


def local_store(settings: LocalSettings) -> LocalStore:
    """The SQLite file `settings.state`, or the DynamoDB table `dynamodb_table`, held open."""
    repository, close_repository = _local_repository(settings)
    return LocalStore(repository=repository,
                      _closers=[close_repository] if close_repository else [])


def local_dead_letter_queue(settings: LocalSettings) -> SqsDeadLetterQueue:
    """The dead-letter queue of `settings.queue_url`, for `cis redrive`.

    Raises:
        cis.errors.ConfigurationError: no queue URL is set.

    """
    if not settings.queue_url:
        raise ConfigurationError(["no SQS queue URL"])
    return _aws_clients(settings).dead_letter_queue(settings.queue_url)


def _aws_clients(settings: LocalSettings) -> AwsClients:
    from cis.adapters.aws import AwsClients

    return AwsClients(region=settings.region, endpoint_url=settings.endpoint_url)


def _local_repository(
    settings: LocalSettings,
) -> tuple[InviteRepository, Callable[[], None] | None]:
    if settings.dynamodb_table:
        return _aws_clients(settings).repository(settings.dynamodb_table), None
    from cis.adapters.sqlite import SqliteInviteRepository

    repository = SqliteInviteRepository(path=settings.state)
    return repository, repository.close


def _local_mailer(settings: LocalSettings) -> tuple[Mailer, Callable[[], None] | None]:
    if settings.ses:
        return _aws_clients(settings).mailer(), None
    if settings.smtp_url:
        from cis.adapters.smtp import SmtpMailer

        try:
            mailer = SmtpMailer.from_url(settings.smtp_url)
        except ValueError as exc:
            raise ConfigurationError([str(exc)]) from None
        return mailer, mailer.close
    from cis.adapters.outbox import OutboxMailer

    return OutboxMailer(directory=settings.outbox), None
