"""One big event sent by 1, 5 and 10 consumers at once, against AWS-like contention and quota.

Each run sends one event of `--attendees` attendees (one queue message each) through the real
handler, `make_handler` around `aws_runtime`, from `--consumers` Lambda containers at once
(tests/load/event_source.py: batches of up to 10, a context that counts down from the function
timeout, partial batch responses, visibility timeout, dead-letter list). Every AWS call goes
to moto in a child process (bench/moto_load_server.py) through the model of AWS under load
(tests/load/aws_under_load.py): 10 ms per attempt, DynamoDB writes holding their items for
15 ms and cancelling writes that meet them there (TransactionConflict), and SES accepting
`--quota` sends per second, answering 429 above it. The function is told the rate and how
many share it: MAX_SEND_RATE=<quota>, MAX_CONCURRENCY=<consumers>.

Before those runs, the same run at the largest consumer count with no quota and no conflicts
(holds still take their time) measures what this machine can do: the ceiling. The quota binds
only if the ceiling is well above it; the table says by how much.

How to read the table, per consumer count:
- quota share: accepted sends / (quota x seconds from the first accepted send to the last);
  `run` is the same over the whole run (first receive to the last message deleted or
  dead-lettered). The token bucket admits one second's burst, so the first can pass 100% by
  at most 1/seconds;
- emails/attendee: accepted sends per attendee; `>1` counts attendees emailed more than once
  (extra emails), `none` those never emailed;
- dead: messages dead-lettered after `--max-receives` receives;
- conflicts: writes the model cancelled (transactions + plain writes); throttled: SendEmail
  attempts answered 429 (botocore retries them, so one call may count up to three);
- calls and WCU per invite: every API call the function made (retries not counted again) and
  the DynamoDB write units of the writes that reached the table (bench/write_units.py), per
  attendee;
- statistics = recount: `get_statistics` of the event equals `recount` of its records.

Targets, with 5 and 10 consumers: quota share at least 90%, no extra email, nothing
dead-lettered, statistics equal to the recount, at most 2.2 calls and 8.9 WCU per invite (what
an invite costs without contention, bench/aws_cost.py).

Defaults: 2,000 attendees; a quota of 25 sends/s, about half of what this 2-core machine does
with moto in a child process and no quota (the ceiling line measures it on every run), so the
quota and not the machine binds, while a run stays near 80 s; function timeout 30 s,
visibility timeout 20 s, 5 receives before the dead-letter list, and a claim lease one second
longer than the function timeout: longer than any live invocation (template.yaml's rule), and
short enough that a claim left behind is taken over before its message's last receive. A
deployed queue's visibility timeout is at least the function timeout (Lambda refuses less;
template.yaml uses 6 x timeout + 5 s); 20 s keeps a redelivery's wait short here, and a batch
paced to its share of the quota (10 sends at 2.5/s) ends well within it.

Run from the repository root: `.venv/bin/python bench/contention.py`: about five minutes on a
2-core machine when every run keeps to the quota (1 consumer about 90 s, 5 and 10 about 80 s
each, the ceiling about 40 s), about six against code whose failed sends wait for their
visibility timeout and claim lease.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
import headlines
from headlines import Headline
from moto_load_server import check_rollback, free_port, start_moto_for_load
from moto_process import provision
from text_table import aligned, cpus_available

from cis.adapters import keys
from cis.adapters.dynamodb import DynamoDBInviteRepository

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))  # tests.load, as when pytest runs from the root

from tests.load.aws_under_load import (  # noqa: E402
    DEFAULT_HOLD,
    DEFAULT_LATENCY,
    AwsUnderLoad,
    LoadFigures,
)
from tests.load.event_source import (  # noqa: E402
    SourceResult,
    SourceSettings,
    attendee_address,
    function_environment,
    invite_bodies,
    invite_handler,
    run_event_source,
)

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}
DEFAULT_ATTENDEES = 2000
DEFAULT_CONSUMERS = (1, 5, 10)
DEFAULT_QUOTA = 25
TARGET_CONSUMERS = (5, 10)
TARGET_SHARE = 0.90
TARGET_CALLS = 2.2
TARGET_WCU = 8.9
"""What one invite costs in write units without contention (bench/aws_cost.py: 8.85 since the
claim carries the suppression check): contention must add no write beyond it."""
PROBE_CALLS = 200


@dataclass(frozen=True)
class Run:
    """One event sent by `consumers` containers: what the queue and the model saw."""

    consumers: int
    quota: float | None
    attendees: int
    source: SourceResult
    figures: LoadFigures
    statistics_equal: bool

    @property
    def sends(self) -> int:
        return self.figures.sends

    def share(self, *, whole_run: bool = False) -> float:
        """Accepted sends over what the quota allowed in the window (or the whole run)."""
        seconds = self.source.elapsed if whole_run else self.figures.send_span
        if not self.quota or seconds <= 0:
            return 0.0
        return self.sends / (self.quota * seconds)

    @property
    def rate(self) -> float:
        """Accepted sends per second from the first to the last."""
        span = self.figures.send_span
        return self.sends / span if span > 0 else 0.0

    @property
    def extra(self) -> int:
        return self.figures.emailed_more_than_once()

    @property
    def not_emailed(self) -> int:
        sent = self.figures.sent_to
        return sum(1 for n in range(self.attendees) if not sent[attendee_address(n)])

    @property
    def dead(self) -> int:
        return len(self.source.dead_lettered)

    @property
    def conflicts(self) -> int:
        return self.figures.transaction_conflicts + self.figures.write_conflicts

    def calls_per_invite(self) -> float:
        return self.figures.total_calls / self.attendees

    def wcu_per_invite(self) -> float:
        return self.figures.write_units / self.attendees

    def misses(self) -> list[str]:
        """The targets this run does not meet; empty when it meets them all."""
        checks = [
            (self.share() >= TARGET_SHARE, f"share < {TARGET_SHARE:.0%}"),
            (self.extra == 0, "extra emails"),
            (self.dead == 0, "dead-lettered"),
            (self.statistics_equal, "statistics != recount"),
            (round(self.calls_per_invite(), 9) <= TARGET_CALLS, f"calls > {TARGET_CALLS}"),
            (round(self.wcu_per_invite(), 9) <= TARGET_WCU, f"WCU > {TARGET_WCU}"),
        ]
        return [words for ok, words in checks if not ok]


def probe_moto(session: boto3.session.Session, endpoint: str, table: str) -> float:
    """UpdateItem calls per second moto answers one after another, no model in between."""
    client = session.client("dynamodb", endpoint_url=endpoint)
    started = time.perf_counter()
    for number in range(PROBE_CALLS):
        client.update_item(
            TableName=table, Key={"pk": {"S": "probe"}, "sk": {"S": f"item{number}"}},
            UpdateExpression="SET #s = :s", ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#s": "state", "#pk": "pk"},
            ExpressionAttributeValues={":s": {"S": "claimed"}})
    return PROBE_CALLS / (time.perf_counter() - started)


def one_run(args: argparse.Namespace, base: Mapping[str, str], session: boto3.session.Session,
            *, consumers: int, quota: float | None, conflicts: bool) -> Run:
    model = AwsUnderLoad(latency=args.latency, hold=args.hold, quota=quota, conflicts=conflicts)
    environment = function_environment(
        base, consumers=consumers, max_send_rate=quota,
        claim_lease_seconds=args.claim_lease or math.ceil(args.function_timeout) + 1,
        log_level="ERROR")
    settings = SourceSettings(consumers=consumers, function_timeout=args.function_timeout,
                              visibility_timeout=args.visibility_timeout,
                              max_receives=args.max_receives, time_limit=args.time_limit)
    event_uid = f"contention-{consumers}-{uuid.uuid4().hex[:8]}"
    print(f"  {consumers} consumer(s), quota {quota or 'none'}"
          f"{'' if conflicts else ', no conflicts'} ...", end="", flush=True)
    source = run_event_source(invite_bodies(event_uid, args.attendees),
                              invite_handler(environment, model.attach), settings)
    print(f" {source.elapsed:.0f}s", flush=True)
    repository = DynamoDBInviteRepository(
        table_name=base["DYNAMODB_TABLE"],
        client=session.client("dynamodb", endpoint_url=base["AWS_ENDPOINT_URL"]))
    stored = repository.get_statistics(event_uid)
    return Run(consumers=consumers, quota=quota, attendees=args.attendees, source=source,
               figures=model.figures(), statistics_equal=stored == repository.recount(event_uid))


def print_table(runs: Sequence[Run], ceiling: Run, quota: float, moto_rate: float) -> None:
    print()
    print(f"one event of {runs[0].attendees:,} attendees, SES quota {quota:g} sends/s, "
          f"MAX_SEND_RATE={quota:g}, MAX_CONCURRENCY=<consumers>")
    header = ["consumers", "seconds", "share", "share (run)", "emails/attendee", ">1", "none",
              "dead", "conflicts", "throttled", "redelivered", "calls/invite", "WCU/invite",
              "stats = recount", "targets"]
    lines = [header]
    for run in runs:
        misses = run.misses()
        verdict = ("met" if not misses else "NOT met: " + ", ".join(misses)) if (
            run.consumers in TARGET_CONSUMERS) else "-"
        lines.append([
            str(run.consumers), f"{run.source.elapsed:.0f}", f"{run.share():.0%}",
            f"{run.share(whole_run=True):.0%}", f"{run.sends / run.attendees:.3f}",
            str(run.extra), str(run.not_emailed), str(run.dead), str(run.conflicts),
            str(run.figures.throttled), str(run.source.redeliveries),
            f"{run.calls_per_invite():.2f}", f"{run.wcu_per_invite():.2f}",
            "yes" if run.statistics_equal else "NO", verdict,
        ])
    print(aligned(lines))
    print()
    print(f"ceiling of this machine ({cpus_available()} CPUs, moto in a child process): "
          f"{ceiling.consumers} consumers, no quota, no conflicts: {ceiling.rate:.1f} sends/s "
          f"from the first to the last ({ceiling.sends / ceiling.source.elapsed:.1f}/s over the "
          f"whole run) = {ceiling.rate / quota:.2f} x the quota; moto alone answers "
          f"{moto_rate:.0f} UpdateItem calls/s one after another")
    for run in (*runs, ceiling):
        notes = []
        if run.source.handler_errors:
            notes.append("handler raised " + ", ".join(
                f"{name} x{count}" for name, count in run.source.handler_errors.items()))
        if run.source.timed_out:
            notes.append(f"{run.source.timed_out} invocation(s) ran past the timeout")
        if run.source.invalid_responses:
            notes.append(f"{run.source.invalid_responses} invalid partial batch response(s)")
        if run.source.stale_deletes:
            notes.append(f"{run.source.stale_deletes} delete(s) with a stale receipt")
        retried = run.figures.total_attempts - run.figures.total_calls
        if retried:
            notes.append(f"{retried} attempt(s) retried by botocore")
        if notes:
            label = "ceiling" if run is ceiling else f"{run.consumers} consumer(s)"
            print(f"  {label}: " + "; ".join(notes))


def headline_figures(runs: Sequence[Run], ceiling: Run, quota: float) -> list[Headline]:
    targeted = [run for run in runs if run.consumers in TARGET_CONSUMERS]
    if not targeted:
        return []
    label = " / ".join(str(run.consumers) for run in targeted) + " consumers"

    figures = [
        ("SES quota share", [f"{run.share():.0%}" for run in targeted], f">= {TARGET_SHARE:.0%}",
         all(run.share() >= TARGET_SHARE for run in targeted)),
        ("attendees emailed more than once", [str(run.extra) for run in targeted], "0",
         all(run.extra == 0 for run in targeted)),
        ("messages dead-lettered", [str(run.dead) for run in targeted], "0",
         all(run.dead == 0 for run in targeted)),
        ("statistics = recount", ["yes" if run.statistics_equal else "no" for run in targeted],
         "yes", all(run.statistics_equal for run in targeted)),
        ("AWS calls per invite", [f"{run.calls_per_invite():.2f}" for run in targeted],
         f"<= {TARGET_CALLS}",
         all(round(run.calls_per_invite(), 9) <= TARGET_CALLS for run in targeted)),
        ("DynamoDB WCU per invite", [f"{run.wcu_per_invite():.2f}" for run in targeted],
         f"<= {TARGET_WCU}", all(round(run.wcu_per_invite(), 9) <= TARGET_WCU
                                 for run in targeted)),
    ]
    found = [Headline("contention", f"{name}, {label}", " / ".join(values), target, met)
             for name, values, target, met in figures]
    found.append(Headline("contention", "machine ceiling with no quota, x the quota",
                          f"{ceiling.rate / quota:.2f}"))
    return found


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attendees", type=int, default=DEFAULT_ATTENDEES,
                        help="attendees of the one event, one message each")
    parser.add_argument("--consumers", default=",".join(map(str, DEFAULT_CONSUMERS)),
                        help="comma-separated consumer counts, one run each")
    parser.add_argument("--quota", type=float, default=DEFAULT_QUOTA,
                        help="SES sends per second (MAX_SEND_RATE)")
    parser.add_argument("--latency", type=float, default=DEFAULT_LATENCY,
                        help="seconds every AWS attempt takes")
    parser.add_argument("--hold", type=float, default=DEFAULT_HOLD,
                        help="seconds a DynamoDB write holds its items")
    parser.add_argument("--function-timeout", type=float, default=30.0)
    parser.add_argument("--visibility-timeout", type=float, default=20.0)
    parser.add_argument("--max-receives", type=int, default=5)
    parser.add_argument("--claim-lease", type=int, default=0,
                        help="CLAIM_LEASE_SECONDS (0: one more than the function timeout)")
    parser.add_argument("--time-limit", type=float, default=900.0,
                        help="seconds one run may take before it fails")
    parser.add_argument("--ceiling-attendees", type=int, default=0,
                        help="attendees of the ceiling run (0: --attendees)")
    parser.add_argument("--statistics-shards", type=int, default=keys.STATISTICS_SHARDS,
                        help="items an event's counters are spread over (1: one statistics "
                        "item per event, written by every invite, to measure the choice)")
    headlines.add_option(parser)
    args = parser.parse_args()
    try:
        args.consumer_counts = sorted({int(part) for part in args.consumers.split(",")})
    except ValueError:
        parser.error("--consumers takes integers separated by commas, e.g. 1,5,10")
    if min(args.consumer_counts) < 1 or args.attendees < 1 or args.quota <= 0:
        parser.error("consumers, attendees and quota must be positive")
    if args.statistics_shards < 1:
        parser.error("--statistics-shards must be positive")
    return args


def main() -> None:
    args = parse_arguments()
    # Fake credentials for this process: every runtime's boto3 session reads them from here,
    # and they guarantee nothing reaches real AWS.
    os.environ.update(CREDENTIALS)
    # Every consumer runs in this process, so this is the count their repositories use.
    keys.STATISTICS_SHARDS = args.statistics_shards
    started = time.monotonic()
    port = free_port()
    server = start_moto_for_load(port)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        session = boto3.session.Session(region_name=REGION)
        base = provision(session, endpoint, name_prefix="cis-contention")
        check_rollback(session, endpoint, base["DYNAMODB_TABLE"])
        moto_rate = probe_moto(session, endpoint, base["DYNAMODB_TABLE"])
        print(f"latency {args.latency * 1000:g} ms per attempt, writes hold their items "
              f"{args.hold * 1000:g} ms; function timeout {args.function_timeout:g} s, "
              f"visibility timeout {args.visibility_timeout:g} s, {args.max_receives} receives; "
              f"statistics in {keys.STATISTICS_SHARDS} item(s) per event")
        ceiling_args = argparse.Namespace(**{
            **vars(args), "attendees": args.ceiling_attendees or args.attendees})
        ceiling = one_run(ceiling_args, base, session, consumers=max(args.consumer_counts),
                          quota=None, conflicts=False)
        runs = [one_run(args, base, session, consumers=count, quota=args.quota,
                        conflicts=True) for count in args.consumer_counts]
    finally:
        server.terminate()
        server.wait(timeout=10)
    print_table(runs, ceiling, args.quota, moto_rate)
    print()
    print(f"whole bench: {time.monotonic() - started:.0f}s")
    headlines.write(args.headlines, headline_figures(runs, ceiling, args.quota))


if __name__ == "__main__":
    main()
