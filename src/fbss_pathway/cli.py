"""The ``fbss-pathway`` command: evaluate records, run the demo, export the schema, list rules.

Exit status: 0 success, 1 a record or rule directory was refused (the error
says which field or rule, never the patient's values), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .catalogue import markdown_catalogue
from .errors import FbssPathwayError, RuleSetError
from .evaluation import evaluate
from .record import PatientRecord
from .report import format_recommendation
from .ruleset import RuleSet, load_ruleset

__all__ = ["example_paths", "main"]


def example_paths() -> list[Path]:
    """The bundled example patients, one or more per stage, in name order."""
    folder = Path(str(resources.files("fbss_pathway").joinpath("examples")))
    return sorted(folder.glob("*.json"))


def _field_errors(error: ValidationError) -> str:
    lines = [f"the record is not valid ({error.error_count()} problem(s)):"]
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(record)"
        lines.append(f"  - {where}: {item['msg']}")
    return "\n".join(lines)


def _read_json(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def _evaluate(args: argparse.Namespace, ruleset: RuleSet) -> int:
    try:
        data = _read_json(args.file)
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        return 1
    except json.JSONDecodeError as error:
        print(
            f"error: {args.file} is not JSON (line {error.lineno}, column {error.colno})",
            file=sys.stderr,
        )
        return 1
    if not isinstance(data, dict):
        print("error: the record must be a JSON object", file=sys.stderr)
        return 1
    try:
        recommendation = evaluate(data, ruleset=ruleset)
    except ValidationError as error:
        print(f"error: {_field_errors(error)}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(recommendation.model_dump_json(indent=2))
    else:
        print(format_recommendation(recommendation))
    return 0


def _demo(args: argparse.Namespace, ruleset: RuleSet) -> int:
    results = []
    paths = example_paths()
    for path in paths:
        record = PatientRecord.model_validate_json(path.read_text(encoding="utf-8"))
        recommendation = evaluate(record, ruleset=ruleset)
        if args.format == "json":
            results.append(
                {"example": path.name, "recommendation": recommendation.model_dump(mode="json")}
            )
        else:
            print(format_recommendation(recommendation, title=f"== {path.name} =="))
            print()
    if args.format == "json":
        print(json.dumps(results, indent=2))
    else:
        print(f"{len(paths)} example patients evaluated with rule set {ruleset.version}.")
    return 0


def _rules(args: argparse.Namespace, ruleset: RuleSet) -> int:
    if args.markdown:
        sys.stdout.write(markdown_catalogue(ruleset))
        return 0
    for rule in ruleset.rules:
        print(f"{rule.id:<8} {rule.title}  [{', '.join(rule.sources)}]")
    print(f"{len(ruleset.rules)} rules valid in {ruleset.path} (version {ruleset.version})")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fbss-pathway",
        description="Explained treatment-pathway recommendations for persistent pain after "
        "spine surgery. "
        "It supports a clinician's decision; it does not make it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_rules(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--rules", metavar="DIR", help="rule directory (default: the packaged rules)"
        )

    evaluate_cmd = commands.add_parser(
        "evaluate", help="evaluate one patient record (JSON file, or - for stdin)"
    )
    evaluate_cmd.add_argument("file")
    evaluate_cmd.add_argument("--format", choices=("text", "json"), default="text")
    with_rules(evaluate_cmd)
    demo = commands.add_parser("demo", help="evaluate the bundled example patients")
    demo.add_argument("--format", choices=("text", "json"), default="text")
    with_rules(demo)
    commands.add_parser("schema", help="print the patient record's JSON Schema")
    rules = commands.add_parser("rules", help="list the rules and validate a rule directory")
    rules.add_argument(
        "directory", nargs="?", help="rule directory to validate (default: the packaged rules)"
    )
    rules.add_argument(
        "--markdown", action="store_true", help="print the rule catalogue as Markdown"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "schema":
        print(json.dumps(PatientRecord.model_json_schema(), indent=2))
        return 0
    directory = args.directory if args.command == "rules" else args.rules
    try:
        ruleset = load_ruleset(directory)
    except RuleSetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        if args.command == "evaluate":
            return _evaluate(args, ruleset)
        if args.command == "demo":
            return _demo(args, ruleset)
        return _rules(args, ruleset)
    except FbssPathwayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
