"""The post-build step that gives each function bytecode Lambda can use as it is."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]


def load_script() -> ModuleType:
    # scripts/ is not a package; load the script by path.
    spec = importlib.util.spec_from_file_location(
        "precompile_build", ROOT / "scripts" / "precompile_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


precompile_build = load_script()
HERE = f"python{sys.version_info[0]}.{sys.version_info[1]}"
TAG = sys.implementation.cache_tag


def a_build(tmp_path: Path, runtime: str = HERE) -> tuple[Path, Path]:
    build = tmp_path / ".aws-sam" / "build"
    for function in ("InviteFunction", "RsvpFunction"):
        (build / function / "cis").mkdir(parents=True)
        (build / function / "cis" / "__init__.py").write_text("VALUE = 1\n")
        (build / function / "dependency.py").write_text("import cis\n")
    (build / "template.yaml").write_text("built\n")
    template = tmp_path / "template.yaml"
    template.write_text(f"A:\n  Properties:\n    Runtime: {runtime}\n"
                        f"B:\n  Properties:\n    Runtime: {runtime}\n")
    return build, template


def test_every_module_of_every_function_gets_unchecked_hash_bytecode(tmp_path: Path) -> None:
    build, template = a_build(tmp_path)
    assert precompile_build.main([str(build), "--template", str(template)]) == 0
    for function in ("InviteFunction", "RsvpFunction"):
        folder = build / function
        for module in (folder / "cis" / "__init__.py", folder / "dependency.py"):
            compiled = module.parent / "__pycache__" / f"{module.stem}.{TAG}.pyc"
            flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
            assert flags == 0b01, f"{compiled}: hash-based and unchecked is 0b01, got {flags:#b}"


def test_a_python_other_than_the_runtime_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    build, template = a_build(tmp_path, runtime="python3.99")
    assert precompile_build.main([str(build), "--template", str(template)]) == 2
    assert "run this with python3.99" in capsys.readouterr().err
    assert not list(build.rglob("*.pyc"))


def test_a_template_whose_functions_disagree_on_the_runtime_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one Python runtime"):
        precompile_build.runtime_version("Runtime: python3.11\nRuntime: python3.12\n")


def test_a_missing_build_says_to_run_sam_build(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, template = a_build(tmp_path)
    assert precompile_build.main([str(tmp_path / "nowhere"), "--template", str(template)]) == 2
    assert "sam build" in capsys.readouterr().err


def test_the_shipped_template_names_one_runtime() -> None:
    major, minor = precompile_build.runtime_version((ROOT / "template.yaml").read_text())
    assert (major, minor) >= (3, 11)
