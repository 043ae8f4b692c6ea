"""The rules of CloudWatch's embedded metric format that a metric line must keep, as a check.

From the EMF specification: a root `_aws` object with an integer `Timestamp` (ms since the
epoch) and `CloudWatchMetrics`, each directive a `Namespace`, `Dimensions` (arrays of at most
30 names, each a string member of the root) and at most 100 `Metrics` whose `Name` is a numeric
member of the root and whose `Unit` is one CloudWatch knows.
"""

from __future__ import annotations

import json
from typing import Any

UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
})


def metric_lines(stdout: str) -> list[dict[str, Any]]:
    """Every line of `stdout` that is an EMF document, checked, in order."""
    documents = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            assert_valid_emf(document)
            documents.append(document)
    return documents


def assert_valid_emf(document: dict[str, Any]) -> None:
    meta = document["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    [directive] = meta["CloudWatchMetrics"]
    assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
    for dimensions in directive["Dimensions"]:
        assert 1 <= len(dimensions) <= 30
        for name in dimensions:
            assert isinstance(document[name], str) and document[name]
    metrics = directive["Metrics"]
    assert 1 <= len(metrics) <= 100
    names = [metric["Name"] for metric in metrics]
    assert len(set(names)) == len(names)
    for metric in metrics:
        assert metric["Unit"] in UNITS
        value = document[metric["Name"]]
        assert isinstance(value, int | float) and not isinstance(value, bool)


def values(document: dict[str, Any]) -> dict[str, float]:
    """The metric values of a document, by name."""
    [directive] = document["_aws"]["CloudWatchMetrics"]
    return {metric["Name"]: document[metric["Name"]] for metric in directive["Metrics"]}
