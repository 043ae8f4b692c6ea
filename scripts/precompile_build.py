"""Byte-compile the functions `sam build` made, so that no cold start compiles a module.

Lambda unpacks a function into /var/task, which is read-only: Python cannot keep the bytecode
it compiles there, so every module without usable bytecode in the package is compiled from
source at every cold start. On a 2-core machine that is about 0.8 s for the bundled boto3 and
0.1 to 0.3 s for cis, icalendar and email-validator (docs/performance.md). A build may ship no
bytecode, or bytecode checked against its source's timestamps, which the zip and its
unpacking need not keep. This script writes unchecked-hash bytecode (PEP 552) next to every
module of each function: the runtime uses it as it is, without looking at the source.

Bytecode is specific to one Python version, so run it with the version of the functions'
`Runtime` (python3.12 in template.yaml); another version is refused, since its files would be
ignored. Tracebacks name the modules under /var/task, where Lambda runs them.

Usage: python3.12 scripts/precompile_build.py [BUILD_DIR] [--template TEMPLATE]
(defaults: .aws-sam/build and template.yaml beside scripts/), after `sam build`.
"""

from __future__ import annotations

import argparse
import compileall
import py_compile
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_TASK_ROOT = "/var/task"
_RUNTIME = re.compile(r"^\s*Runtime:\s*python(\d+)\.(\d+)\s*$", re.MULTILINE)


def runtime_version(template: str) -> tuple[int, int]:
    """The one Python version every function of the template runs on."""
    versions = {(int(major), int(minor)) for major, minor in _RUNTIME.findall(template)}
    if len(versions) != 1:
        found = ", ".join(f"python{a}.{b}" for a, b in sorted(versions)) or "none"
        raise ValueError(f"expected one Python runtime in the template, found {found}")
    return versions.pop()


def function_folders(build_dir: Path) -> list[Path]:
    """Each function's artifact: a folder of `sam build`'s output holding the cis package."""
    return sorted(p for p in build_dir.iterdir() if (p / "cis" / "__init__.py").is_file())


def precompile(folder: Path) -> bool:
    """Compile every module under `folder`; False if one failed to compile."""
    return bool(compileall.compile_dir(
        folder, ddir=LAMBDA_TASK_ROOT, quiet=1, workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    ))


def main(argv: Sequence[str] | None = None) -> int:
    """Compile each function of the build; 2 when it cannot be done as asked, 1 on a failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    args = parser.parse_args(argv)
    try:
        wanted = runtime_version(args.template.read_text())
    except (OSError, ValueError) as exc:
        print(f"precompile_build: {exc}", file=sys.stderr)
        return 2
    running = sys.version_info[:2]
    if running != wanted:
        print(f"precompile_build: run this with python{wanted[0]}.{wanted[1]}, the functions' "
              f"runtime; python{running[0]}.{running[1]} writes bytecode that runtime ignores",
              file=sys.stderr)
        return 2
    if not args.build_dir.is_dir():
        print(f"precompile_build: no build in {args.build_dir}: run `sam build` first",
              file=sys.stderr)
        return 2
    folders = function_folders(args.build_dir)
    if not folders:
        print(f"precompile_build: no function with the cis package under {args.build_dir}",
              file=sys.stderr)
        return 2
    failed = [folder.name for folder in folders if not precompile(folder)]
    for folder in folders:
        print(f"precompile_build: {folder.name}: "
              f"{sum(1 for _ in folder.rglob('*.pyc')):,} bytecode files")
    if failed:
        print(f"precompile_build: some modules did not compile in {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
