"""The layer rules of docs/architecture.md hold, and a module that breaks one is caught.

The rules are import-linter contracts in pyproject.toml; the domain's "no clock, no
environment" rule is also checked on calls, which no import rule can see.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "cis"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, source_root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", *options], cwd=cwd, env=environment,
                          capture_output=True, text=True, check=False, timeout=120)


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(ROOT, ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.fixture(scope="module")
def copy_of_the_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's package and contracts in a folder of their own, to be broken at will."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(SRC, root / "src" / "cis",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


BREACHES = [
    pytest.param("domain/leak.py", "from cis.adapters import memory\n", "layers",
                 "cis.domain.leak -> cis.adapters.memory", id="the domain imports an adapter"),
    pytest.param("domain/leak.py", "import boto3\n", "pure-domain",
                 "cis.domain.leak -> boto3", id="the domain imports boto3"),
    pytest.param("domain/leak.py", "import pydantic\n", "pure-domain",
                 "cis.domain.leak -> pydantic", id="the domain imports pydantic"),
    pytest.param("domain/leak.py", "import os\n\nTABLE = os.environ.get('T')\n", "pure-domain",
                 "cis.domain.leak -> os", id="the domain reads the environment"),
    pytest.param("adapters/leak.py", "from cis.services import invites\n", "layers",
                 "cis.adapters.leak -> cis.services.invites", id="an adapter imports a service"),
    pytest.param("services/leak.py", "from cis.adapters import sqlite\n", "layers",
                 "cis.services.leak -> cis.adapters.sqlite", id="a service imports an adapter"),
    pytest.param("ports/leak.py", "from cis.adapters import memory\n", "layers",
                 "cis.ports.leak -> cis.adapters.memory", id="a port imports an adapter"),
    pytest.param("messages/leak.py", "import botocore\n", "aws-in-adapters",
                 "cis.messages.leak -> botocore", id="the wire format imports botocore"),
]


@pytest.mark.parametrize(("module", "text", "contract", "chain"), BREACHES)
def test_a_module_that_breaks_a_layer_rule_fails_the_contracts(
    copy_of_the_package: Path, module: str, text: str, contract: str, chain: str,
) -> None:
    leak = copy_of_the_package / "src" / "cis" / module
    leak.write_text(f'"""A breach of the rules, for the test."""\n\n{text}', encoding="utf-8")
    try:
        result = lint_imports(copy_of_the_package, copy_of_the_package / "src",
                              "--contract", contract)
    finally:
        leak.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken" in result.stdout
    assert chain in result.stdout


# Calls that read a clock, an id source or the environment: the domain takes these as
# arguments (`now`, `email_id`, claim tokens), so that its output is a function of its input.
_IMPURE_CALLS = frozenset({"now", "utcnow", "today", "getenv", "uuid4"})


def impure_calls(path: Path, root: Path = SRC) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(root)}:{node.lineno} {node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in _IMPURE_CALLS
    ]


def test_the_domain_reads_no_clock_and_no_environment() -> None:
    assert [call for path in (SRC / "domain").rglob("*.py") for call in impure_calls(path)] == []


def test_the_impurity_check_sees_a_clock_read(tmp_path: Path) -> None:
    module = tmp_path / "clocked.py"
    module.write_text("import datetime as dt\n\nSTAMP = dt.datetime.now(dt.UTC)\n", "utf-8")
    assert impure_calls(module, tmp_path) == ["clocked.py:3 now"]
