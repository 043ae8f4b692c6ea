"""Write requirements-lambda.txt: the functions' runtime dependencies, pinned and hashed.

`[project].dependencies` in pyproject.toml states what cis needs, as lower bounds; this file
is what one deployment ships: every package (boto3 and its own dependencies included, since
the build bundles them and the bundled copy is the one that runs), each at one version with
the SHA-256 of every file published for it. pip checks those hashes when it installs from the
file, so two builds of one commit install the same bytes, or fail.

The resolution is made for the functions' `Runtime` and `Architectures` in template.yaml
(python3.12 on arm64: manylinux2014 aarch64 wheels), whatever machine runs this script. It
calls `uv pip compile` (`pip install uv`: uv resolves for another Python and platform, which
pip-tools cannot). `--check` (no uv needed) lists where pyproject.toml and the file
disagree, as tests/unit/test_lambda_requirements.py does: run this script again then.

Usage: python scripts/lock_lambda_requirements.py [--check]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "requirements-lambda.txt"
TEMPLATE = ROOT / "template.yaml"
COMMAND = "python scripts/lock_lambda_requirements.py"
_RUNTIME = re.compile(r"^\s*Runtime:\s*python(\d+\.\d+)\s*$", re.MULTILINE)
_ARCHITECTURE = re.compile(r"^\s*Architectures:\s*\n\s*-\s*(\S+)\s*$", re.MULTILINE)
_PLATFORMS = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*\\)?$")
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}(?:\s*\\)?$")
PROJECT = "cis (pyproject.toml)"
"""How the file names pyproject.toml as the reason a package is there."""


@dataclass
class Pin:
    """One package of the file: its version, how many file hashes it has, who needs it."""

    version: str
    hashes: int = 0
    via: list[str] | None = None


def read_lock(text: str) -> tuple[dict[str, Pin], list[str]]:
    """The pinned packages of a requirements file by canonical name, and its stray lines.

    A stray line is one that is neither a pin, a hash of the pin above it, nor a comment:
    a range, a URL or an option would let an install pick something else.
    """
    pins: dict[str, Pin] = {}
    stray: list[str] = []
    current: Pin | None = None
    in_via = False
    for raw in text.splitlines():
        line = raw.strip()
        pinned = _PINNED.match(raw)
        if pinned:
            current = pins[canonicalize_name(pinned[1])] = Pin(pinned[2], via=[])
            in_via = False
        elif current is not None and _HASH.match(line):
            current.hashes += 1
        elif line.startswith("# via") and current is not None and current.via is not None:
            named = line.removeprefix("# via").strip()
            current.via += [named] if named else []
            in_via = not named
        elif line.startswith("#   ") and in_via and current is not None and current.via is not None:
            current.via.append(line.removeprefix("#").strip())
        elif line and not line.startswith("#"):
            stray.append(raw)
    return pins, stray


def disagreements(pyproject: str, lock: str) -> list[str]:
    """Where a requirements file does not pin what `[project].dependencies` asks for.

    Each dependency must be pinned within its bounds and named as needed by the project; no
    package may be named so that the project no longer asks for; every pin has its hashes
    and is needed by the project or by another pin.
    """
    wanted = {canonicalize_name(r.name): r for r in map(
        Requirement, tomllib.loads(pyproject)["project"]["dependencies"])}
    pins, stray = read_lock(lock)
    problems = [f"not a pinned, hashed requirement: {line.strip()!r}" for line in stray]
    for name, requirement in sorted(wanted.items()):
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement} is not pinned")
            continue
        if not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{name}=={pin.version} is outside {requirement}")
        if PROJECT not in (pin.via or []):
            problems.append(f"{name} is pinned but not as a dependency of the project")
    for name, pin in sorted(pins.items()):
        if pin.hashes == 0:
            problems.append(f"{name}=={pin.version} has no hash")
        needed_by = {canonicalize_name(v) if v != PROJECT else PROJECT for v in pin.via or []}
        if PROJECT in needed_by and name not in wanted:
            problems.append(f"{name} is pinned as a dependency the project no longer has")
        if not needed_by & ({PROJECT} | set(pins)):
            problems.append(f"{name} is pinned but nothing needs it")
    return problems


def target(template: str) -> tuple[str, str]:
    """The one Python version and the one uv platform every function of the template runs on.

    Raises:
        ValueError: the functions differ, or name none.

    """
    versions = set(_RUNTIME.findall(template))
    architectures = set(_ARCHITECTURE.findall(template))
    if len(versions) != 1 or len(architectures) != 1:
        raise ValueError(f"expected one Runtime and one architecture in the template, found "
                         f"{sorted(versions) or 'none'} and {sorted(architectures) or 'none'}")
    [architecture] = architectures
    if architecture not in _PLATFORMS:
        raise ValueError(f"unknown Lambda architecture {architecture!r}")
    return versions.pop(), _PLATFORMS[architecture]


def compile_command(uv: str, python_version: str, platform: str) -> list[str]:
    """The `uv pip compile` call that writes the file, run from the repository's root."""
    return [uv, "pip", "compile", "pyproject.toml", "--generate-hashes", "--quiet",
            "--python-version", python_version, "--python-platform", platform,
            "--custom-compile-command", COMMAND, "--output-file", str(TARGET)]


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the file (with `--check`: compare it); 2 when it cannot, 1 when they differ."""
    if list(sys.argv[1:] if argv is None else argv) == ["--check"]:
        problems = disagreements((ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                                 TARGET.read_text(encoding="utf-8"))
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        print("uv not found: install it with `pip install uv`", file=sys.stderr)
        return 2
    try:
        python_version, platform = target(TEMPLATE.read_text(encoding="utf-8"))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    # The arguments are this script's own; uv is the one found on PATH or beside Python.
    subprocess.run(compile_command(uv, python_version, platform), cwd=ROOT, check=True)  # noqa: S603
    print(f"wrote {TARGET} for python{python_version} on {platform}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
