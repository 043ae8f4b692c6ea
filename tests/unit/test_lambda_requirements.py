"""requirements-lambda.txt pins, with hashes, exactly what pyproject.toml asks the functions for."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
LOCK = (ROOT / "requirements-lambda.txt").read_text(encoding="utf-8")


def load_script() -> ModuleType:
    # scripts/ is not a package; load the script by path.
    spec = importlib.util.spec_from_file_location(
        "lock_lambda_requirements", ROOT / "scripts" / "lock_lambda_requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    return module


lock = load_script()


def with_dependencies(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_the_lock_pins_what_pyproject_asks_for() -> None:
    assert lock.disagreements(PYPROJECT, LOCK) == []
    assert lock.main(["--check"]) == 0


def test_every_package_is_pinned_to_one_version_with_the_hash_of_each_file() -> None:
    pins, stray = lock.read_lock(LOCK)
    assert stray == []
    assert {"boto3", "botocore", "icalendar", "pydantic", "pydantic-core", "email-validator",
            "nh3", "tzdata"} <= set(pins)
    assert all(pin.hashes >= 1 for pin in pins.values())
    # Compiled packages carry a hash for every wheel published, the arm64 ones among them.
    assert pins["pydantic-core"].hashes > 10 and pins["nh3"].hashes > 10


def test_a_dependency_added_to_pyproject_and_not_locked_is_caught() -> None:
    changed = with_dependencies(PYPROJECT, '"tzdata>=2024.1",',
                                '"tzdata>=2024.1",\n    "attrs>=23",')
    assert lock.disagreements(changed, LOCK) == ["attrs>=23 is not pinned"]


def test_a_bound_raised_past_the_pinned_version_is_caught() -> None:
    pins, _ = lock.read_lock(LOCK)
    major = int(pins["boto3"].version.split(".")[0])
    changed = with_dependencies(PYPROJECT, '"boto3>=1.34"', f'"boto3>={major + 1}"')
    [problem] = lock.disagreements(changed, LOCK)
    assert problem.startswith(f"boto3=={pins['boto3'].version} is outside boto3>={major + 1}")


def test_a_dependency_dropped_from_pyproject_but_still_locked_is_caught() -> None:
    changed = with_dependencies(PYPROJECT, '    "nh3>=0.2.17",\n', "")
    assert lock.disagreements(changed, LOCK) == [
        "nh3 is pinned as a dependency the project no longer has"]


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda text: re.sub(r"(?m)^(icalendar)==(\S+) \\$", r"\1>=\2 \\", text),
     "not a pinned, hashed requirement"),
    (lambda text: re.sub(r"(?ms)^(nh3==\S+) \\\n(?:\s+--hash=\S+(?: \\)?\n)+", r"\1\n", text),
     "has no hash"),
])
def test_a_range_or_a_missing_hash_is_caught(edit: Callable[[str], str], problem: str) -> None:
    edited = edit(LOCK)
    assert edited != LOCK
    assert any(problem in found for found in lock.disagreements(PYPROJECT, edited))


def test_the_lock_is_resolved_for_the_functions_runtime_and_architecture() -> None:
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert lock.target(template) == ("3.12", "aarch64-manylinux2014")
    command = lock.compile_command("uv", "3.12", "aarch64-manylinux2014")
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--generate-hashes" in command
    with pytest.raises(ValueError, match="one Runtime"):
        lock.target(template + "\n      Runtime: python3.11\n")
