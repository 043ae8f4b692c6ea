"""Check the SAM template offline: translate it to CloudFormation and lint both forms.

A template that `sam deploy` rejects, or that deploys but misbehaves, is found only after a
round trip to AWS. This script catches most of those mistakes without an account:

1. it translates the SAM template the way the CloudFormation transform would, using the
   `aws-sam-translator` package, so errors in SAM-specific properties surface here;
2. it lints the source template with cfn-lint, which validates SAM resources against the SAM
   schemas;
3. it lints the translated CloudFormation with cfn-lint, which catches what only shows after
   translation (dangling references, invalid event source mapping settings, IAM actions);
4. it checks that each function's handler module exists under its local CodeUri.

Errors and warnings count as problems; cfn-lint's informational findings are not requested.

Usage: python scripts/check_template.py [TEMPLATE]  (defaults to template.yaml beside scripts/)
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import yaml
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from samtranslator.model.exceptions import ExceptionWithMessage, InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"

#: The region used for translation and linting. The template is region-neutral; one region
#: is enough to resolve pseudo parameters and to pick the resource schemas cfn-lint checks.
REGION = "us-east-1"

#: Pseudo parameters the transform would otherwise read from an AWS session.
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "cis-check",
}

#: AWS managed policies by name, as IAM would list them. The translator asks for this map only
#: when a function names a managed policy in `Policies`; answering from a fixed table keeps
#: the check offline. The two service-role policies are the ones SAM attaches on its own.
MANAGED_POLICIES: dict[str, str] = {
    "AWSLambdaBasicExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    ),
    "AWSLambdaSQSQueueExecutionRole": (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    ),
}

#: Stand-in for the S3 location that `sam package` writes into CodeUri. The transform accepts
#: only S3 locations, while the source template names a local folder for `sam build`.
PACKAGED_CODE: dict[str, str] = {"Bucket": "cis-template-check", "Key": "invite-function.zip"}

_SERVERLESS_FUNCTION = "AWS::Serverless::Function"


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short-form tags (`!Ref`, `!Sub`, ...).

    Kept as a subclass so that registering the tags does not change `yaml.SafeLoader` for
    every other user in the process.
    """


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """Turn `!Name value` into the long form `{"Fn::Name": value}` (`Ref`, `Condition` bare)."""
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if suffix == "GetAtt" and isinstance(node, yaml.ScalarNode):
        # `!GetAtt Resource.Attribute` is shorthand for the two-element list form.
        value = loader.construct_scalar(node).split(".", 1)
    elif isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}")
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)
# CloudFormation reads an unquoted 2010-09-09 as text; YAML would make it a date, which the
# translator rejects and JSON cannot encode.
_CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class StaticManagedPolicyLoader:
    """Answers the translator's managed-policy lookup from `MANAGED_POLICIES`, not from IAM."""

    def load(self) -> dict[str, str]:
        """Return managed policy ARNs by policy name."""
        return dict(MANAGED_POLICIES)


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation/SAM YAML (or JSON) template into plain Python data."""
    # The loader is a SafeLoader subclass: it builds plain data only, never Python objects.
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a template mapping")
    return data


def _with_packaged_code(template: dict[str, Any]) -> dict[str, Any]:
    """Return a copy whose local CodeUri folders are replaced as `sam package` would do."""
    packaged = copy.deepcopy(template)
    for resource in packaged.get("Resources", {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != _SERVERLESS_FUNCTION:
            continue
        properties = resource.get("Properties", {})
        code_uri = properties.get("CodeUri")
        if isinstance(code_uri, str) and not code_uri.startswith("s3://"):
            properties["CodeUri"] = dict(PACKAGED_CODE)
    return packaged


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """Translate a SAM template to CloudFormation, offline.

    The translator is built with an explicit boto3 session so that the region comes from
    `REGION` and not from the environment; no AWS call is made.

    Raises:
        samtranslator.model.exceptions.InvalidDocumentException: the template is invalid SAM.

    """
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        boto_session=boto3.session.Session(region_name=REGION),
    )
    result: dict[str, Any] = translator.translate(
        _with_packaged_code(template),
        parameter_values=dict(PSEUDO_PARAMETERS),
        get_managed_policy_map=StaticManagedPolicyLoader().load,
    )
    return result


def translate_file(path: Path) -> dict[str, Any]:
    """Load and translate the SAM template at `path`."""
    return translate(load_template(path))


def _lint(text: str, label: str) -> list[str]:
    """Lint template text; return its errors and warnings as readable lines."""
    problems: list[str] = []
    for match in lint(text, config=ManualArgs(regions=[REGION])):
        rule_id: str = match.rule.id
        if rule_id.startswith(("E", "W")):
            problems.append(f"{label}:{match.linenumber}: {rule_id} {match.message}")
    return problems


def _translation_problems(error: Exception) -> list[str]:
    """Flatten a translator exception into one line per cause."""
    if isinstance(error, InvalidDocumentException):
        return [f"sam translate: {cause.message}" for cause in error.causes]
    if isinstance(error, ExceptionWithMessage):
        return [f"sam translate: {error.message}"]
    return [f"sam translate: {type(error).__name__}: {error}"]


def _handler_problems(template: dict[str, Any], template_dir: Path) -> list[str]:
    """Report Python handlers whose module is missing from the function's local CodeUri.

    cfn-lint cannot see the code, and `sam build` would package the folder without
    complaint; the function would then fail on its first invocation.
    """
    problems: list[str] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != _SERVERLESS_FUNCTION:
            continue
        properties = resource.get("Properties", {})
        code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
        runtime = properties.get("Runtime")
        if not (isinstance(code_uri, str) and isinstance(handler, str)):
            continue
        if code_uri.startswith("s3://") or not str(runtime).startswith("python"):
            continue
        module_path, _, _function = handler.rpartition(".")
        parts = module_path.split(".")
        base = template_dir / code_uri
        candidates = [
            base.joinpath(*parts).with_suffix(".py"),
            base.joinpath(*parts, "__init__.py"),
        ]
        if not any(candidate.is_file() for candidate in candidates):
            problems.append(
                f"{logical_id}: handler module {module_path!r} not found under CodeUri {code_uri!r}"
            )
    return problems


def check(path: Path | str) -> list[str]:
    """Return every problem found in the SAM template at `path`; empty means clean."""
    path = Path(path)
    try:
        source_text = path.read_text(encoding="utf-8")
        template = load_template(path)
    except (OSError, ValueError, yaml.YAMLError) as error:
        return [f"{path}: cannot read template: {error}"]

    problems = _lint(source_text, path.name)
    problems.extend(_handler_problems(template, path.parent))
    try:
        translated = translate(template)
    except Exception as error:
        # The translator also fails with plain KeyError/TypeError on some malformed input;
        # whatever stops the translation is a finding about the template.
        problems.extend(_translation_problems(error))
    else:
        translated_text = json.dumps(translated, indent=1, sort_keys=True)
        problems.extend(_lint(translated_text, f"{path.name} (translated)"))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Check the template named on the command line; exit 1 and list problems if any."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        print("usage: check_template.py [TEMPLATE]", file=sys.stderr)
        return 2
    path = Path(args[0]) if args else DEFAULT_TEMPLATE
    problems = check(path)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{path}: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
