"""Cold start: a fresh process that imports the Lambda module and serves a first batch.

Compared, in the same run, with a fresh process that only imports boto3 and creates the
three clients the function needs (DynamoDB, SES v2, SQS): the floor any Python Lambda with
these clients pays. Both talk to one moto server on 127.0.0.1 started by this script. Times
are measured inside each child from its first line to its last, so interpreter start-up, the
same for both, is left out. The children run in pairs, one of each kind after the other,
after one unrecorded pair that warms the file cache; the ratio is the median of the pairs'
ratios, so a slow spell of the machine weighs on both sides of a pair alike. Read the ratio:
target at most 1.3.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import boto3
import headlines
from headlines import Headline
from moto_process import free_port, provision, start_moto

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[1]

BASELINE = """
import time
started = time.perf_counter()
import boto3
session = boto3.session.Session(region_name={region!r})
clients = [session.client(name, endpoint_url={endpoint!r}) for name in ("dynamodb", "sesv2", "sqs")]
print(time.perf_counter() - started)
"""

FIRST_BATCH_CALLS = 5
FIRST_BATCH_CALLS_ARE = ("the event's stored version read, then stored with its fences; the claim "
                         "with its suppression check; the send; the record")
"""What a first batch of one invite asks of AWS in a new container."""

CIS = """
import time
started = time.perf_counter()
import cis.lambda_handler
import botocore.client
waited = []
call = botocore.client.BaseClient._make_api_call
def timed_call(client, operation, params):
    begun = time.perf_counter()
    try:
        return call(client, operation, params)
    finally:
        waited.append(time.perf_counter() - begun)
botocore.client.BaseClient._make_api_call = timed_call
response = cis.lambda_handler.lambda_handler({event!r}, None)
elapsed = time.perf_counter() - started
assert response == {{"batchItemFailures": []}}, response
assert len(waited) == {calls}, waited
print(sum(waited))
print(elapsed)
"""


def one_record(number: int) -> dict[str, object]:
    uid = f"cold-start-{number}"  # a new event each time: its version is read and stored
    body = {
        "request": {"uid": uid, "email": f"attendee{number}@example.org"},
        "event": {"uid": uid, "summary": "Cold start", "dtstart": 1796115600,
                  "dtend": 1796119200, "organizer": "Ann", "mailto": "ann@example.org"},
    }
    return {"Records": [{"messageId": f"m{number}", "receiptHandle": f"r{number}",
                         "body": json.dumps(body), "eventSource": "aws:sqs"}]}


def run_child(code: str, env: dict[str, str]) -> list[float]:
    """The figures the child printed, one per line: for cis, time in AWS calls, then in all."""
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"child failed:\n{result.stderr}")
    return [float(line) for line in result.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes of each kind")
    headlines.add_option(parser)
    args = parser.parse_args()
    # boto3 comes with its bytecode; give cis its own too, whatever edits or
    # PYTHONDONTWRITEBYTECODE left, so neither side compiles source during the timing.
    compileall.compile_dir(ROOT / "src" / "cis", quiet=1)
    port = free_port()
    server = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                        aws_secret_access_key="testing")
        function_env = {
            **os.environ, **provision(session, endpoint, name_prefix="cis-cold"),
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
        baseline_env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}
        baseline, cis, in_calls = [], [], []
        for number in range(-1, args.runs):
            [floor_time] = run_child(BASELINE.format(region=REGION, endpoint=endpoint),
                                     baseline_env)
            calls_time, cis_time = run_child(CIS.format(event=one_record(number + 1),
                                                        calls=FIRST_BATCH_CALLS),
                                             function_env)
            if number >= 0:  # the first pair only warms the caches
                baseline.append(floor_time)
                cis.append(cis_time)
                in_calls.append(calls_time)
    finally:
        server.terminate()
        server.wait(timeout=10)
    floor, ours = statistics.median(baseline), statistics.median(cis)
    ratios = [mine / base for base, mine in zip(baseline, cis, strict=True)]
    ratio = statistics.median(ratios)
    low, _, high = statistics.quantiles(ratios, n=4)
    print(f"{'cold start (median of ' + str(args.runs) + ' fresh processes)':<58}{'ms':>8}"
          f"{'ratio':>8}")
    print(f"{'baseline: import boto3 + 3 clients':<58}{floor * 1000:>8.0f}{1.0:>8.2f}")
    print(f"{'cis: import cis.lambda_handler + first 1-record batch':<58}{ours * 1000:>8.0f}"
          f"{ratio:>8.2f}")
    print(f"ratio = median of {args.runs} paired ratios; middle half {low:.2f} to {high:.2f}")
    calls = statistics.median(in_calls)
    own = statistics.median((mine - waited) / base
                            for base, mine, waited in zip(baseline, cis, in_calls, strict=True))
    print(f"of cis's time, {calls * 1000:.0f} ms is waiting on its {FIRST_BATCH_CALLS} AWS calls "
          f"({FIRST_BATCH_CALLS_ARE}), which the baseline does not make; without them the "
          f"ratio is {own:.2f}")
    print(f"target: at most 1.30 -> {'met' if ratio <= 1.3 else 'NOT met'}")
    headlines.write(args.headlines, [
        Headline("cold_start", "import + first 1-record batch, x import boto3 + 3 clients",
                 f"{ratio:.2f} ({ours * 1000:.0f} / {floor * 1000:.0f} ms)", "<= 1.3",
                 ratio <= 1.3),
        Headline("cold_start",
                 f"the same without the time in its {FIRST_BATCH_CALLS} AWS calls (moto)",
                 f"{own:.2f} ({calls * 1000:.0f} ms in calls)"),
    ])


if __name__ == "__main__":
    main()
