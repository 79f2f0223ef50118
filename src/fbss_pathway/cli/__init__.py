"""The ``fbss-pathway`` command: evaluate records and cohorts, run the demo, list rules.

Exit status: 0 success (for ``evaluate`` and ``report`` of a bundle: also a
patient outside the pathway, an answer, whose reason is printed), 1 a record,
file, rule directory or address was refused (the error says which field, rule
or file, never the patient's values), 2 usage errors, 3 ``batch`` completed
with rejected records (every line was read and answered, and the output
written, but at least one answer is an error line: as a linter exits non-zero
when it found problems, so that a script notices), 130 interrupted (Ctrl-C),
141 the output pipe was closed by its reader (``| head``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import ValidationError

from .. import __version__
from ..catalogue import markdown_catalogue
from ..errors import FbssPathwayError, RuleSetError
from ..evaluation import evaluate
from ..explain.diagram import mermaid_diagram
from ..ndjson import BatchSummary, run_batch_file
from ..record import PatientRecord
from ..report import format_recommendation
from ..report.text import DEFAULT_WIDTH
from ..ruleset import RuleSet, load_ruleset
from ..synth import synthetic_cohort
from .inputs import InputError, example_paths, field_errors, read_bytes, read_json, recommend_file
from .population import add_population_commands, screen, worklist
from .report import add_report_command, report, write_example_reports
from .serve import serve

__all__ = ["REJECTED_RECORDS", "example_paths", "main"]

#: The exit status of a batch that completed with rejected records (see the module docstring).
REJECTED_RECORDS = 3


def _evaluate(args: argparse.Namespace, ruleset: RuleSet) -> int:
    recommendation = recommend_file(args.file, ruleset)
    if recommendation is None:
        return 0  # outside the pathway, which was said
    if args.format == "json":
        print(recommendation.model_dump_json(indent=2))
    else:
        print(format_recommendation(recommendation, width=_columns(args.width), ruleset=ruleset))
    return 0


def _with_width(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--width",
        type=int,
        default=None,
        metavar="COLUMNS",
        help="wrap the text at COLUMNS (default: the terminal's width, at most 100; 88 in a pipe)",
    )


def _columns(requested: int | None) -> int:
    """The width asked for, else the terminal's (at most 100), else 88 for a pipe or file."""
    if requested is not None:
        return requested
    if sys.stdout.isatty():
        return min(shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns, 100)
    return DEFAULT_WIDTH


def _questionnaire() -> int:
    from ..fhir import questionnaire

    print(json.dumps(questionnaire(), indent=2))
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
            title = f"== {path.name} =="
            text = format_recommendation(
                recommendation, title=title, width=_columns(args.width), ruleset=ruleset
            )
            print(text)
            print()
    if args.format == "json":
        print(json.dumps(results, indent=2))
    else:
        print(f"{len(paths)} example patients evaluated with rule set {ruleset.version}.")
    if args.reports:
        written = write_example_reports(Path(args.reports), ruleset)
        print(f"{len(written)} HTML reports written to {args.reports}", file=sys.stderr)
    return 0


def _batch(args: argparse.Namespace, ruleset: RuleSet) -> int:
    summary = BatchSummary()
    try:
        run_batch_file(
            args.input,
            args.output,
            processes=args.processes,
            ruleset=ruleset,
            progress=False if args.no_progress else None,
            summary=summary,
        )
    except KeyboardInterrupt:
        where = (
            "the results so far went to standard output"
            if args.output == "-"
            else f"{args.output} was not written"
        )
        print(f"interrupted after {summary.read} record(s); {where}", file=sys.stderr)
        return 130
    for line in summary.lines():
        print(line, file=sys.stderr)
    return REJECTED_RECORDS if summary.rejected else 0


def _output(path: str) -> AbstractContextManager[BinaryIO]:
    """The file to write, or standard output for - (left open for the rest of the program)."""
    return nullcontext(sys.stdout.buffer) if path == "-" else Path(path).open("wb")


def _synth(args: argparse.Namespace) -> int:
    if args.format == "bulk":
        from ..fhir.bulk import write_bulk_export
        from ..synth import ASSESSMENT_DATE

        if args.output == "-":
            raise InputError("a bulk export is a directory: give -o DIR")
        cohort = synthetic_cohort(args.count, seed=args.seed)
        try:
            counts = write_bulk_export(cohort, Path(args.output), transaction_time=ASSESSMENT_DATE)
        except OSError as error:
            raise InputError(f"cannot write {args.output}: {error.strerror}") from None
        print(f"{sum(counts.values())} resources of {args.count} patients in {args.output}")
        return 0
    try:
        opened = _output(args.output)
    except OSError as error:
        raise InputError(f"cannot write {args.output}: {error.strerror}") from None
    with opened as writing:
        for record in synthetic_cohort(args.count, seed=args.seed):
            writing.write(record.model_dump_json(exclude_none=True).encode() + b"\n")
    where = "standard output" if args.output == "-" else args.output
    print(
        f"{args.count} synthetic patients written to {where} (NDJSON, seed {args.seed})",
        file=sys.stderr,
    )
    return 0


def _to_fhir(args: argparse.Namespace) -> int:
    from ..fhir import bundle_from_record

    try:
        record = PatientRecord.model_validate_json(read_bytes(args.file))
    except ValidationError as error:
        print(f"error: {field_errors(error)}", file=sys.stderr)
        return 1
    people = read_json(args.patients) if args.patients else {}
    if not isinstance(people, dict):
        raise InputError(f"{args.patients} must map patient ids to Patient elements")
    details = people.get(record.patient_id) if record.patient_id else None
    print(json.dumps(bundle_from_record(record, patient=details), indent=2))
    return 0


def _whole(text: str, low: int, high: int | None = None) -> int:
    """A whole number in range, or a usage error that says so (argparse exits 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise argparse.ArgumentTypeError(f"must be {span}, not {value}")
    return value


def _positive(text: str) -> int:
    return _whole(text, 1)


def _count(text: str) -> int:
    return _whole(text, 0)


def _port(text: str) -> int:
    return _whole(text, 1, 65535)


def _rules(args: argparse.Namespace, ruleset: RuleSet) -> int:
    if args.markdown:
        sys.stdout.write(markdown_catalogue(ruleset))
        return 0
    if args.diagram:
        sys.stdout.write(mermaid_diagram(ruleset))
        return 0
    for rule in ruleset.rules:
        print(f"{rule.id:<8} {rule.title}  [{', '.join(rule.sources)}]")
    print(f"{len(ruleset.rules)} rules valid in {ruleset.path} (version {ruleset.version})")
    return 0


class _Version(argparse.Action):
    """--version: the package, and the rule set it evaluates with (loaded only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"fbss-pathway {__version__}, rule set {load_ruleset().version}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fbss-pathway",
        description="Explained treatment-pathway recommendations for persistent pain after "
        "spine surgery. "
        "It supports a clinician's decision; it does not make it.",
    )
    parser.add_argument(
        "--version", action=_Version, help="print the package and packaged rule-set versions"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def with_rules(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--rules", metavar="DIR", help="rule directory (default: the packaged rules)"
        )

    evaluate_cmd = commands.add_parser(
        "evaluate",
        help="evaluate one patient record or FHIR R4 Bundle (JSON file, or - for stdin)",
    )
    evaluate_cmd.add_argument(
        "file", help="a patient record or FHIR R4 Bundle (JSON file; - for stdin)"
    )
    evaluate_cmd.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (a summary for people, the default) or json (the whole recommendation)",
    )
    _with_width(evaluate_cmd)
    with_rules(evaluate_cmd)
    demo = commands.add_parser("demo", help="evaluate the bundled example patients")
    demo.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (a summary per patient, the default) or json (every recommendation)",
    )
    demo.add_argument(
        "--reports", metavar="DIR", help="also write one HTML report per example patient to DIR"
    )
    _with_width(demo)
    with_rules(demo)
    add_report_command(commands)
    add_population_commands(commands)
    batch = commands.add_parser(
        "batch",
        help="evaluate a cohort: one JSON record per line in, one result per line out",
        epilog="Blank lines are skipped. Exit status: 0 every record evaluated; "
        f"{REJECTED_RECORDS} completed with rejected records (each has an error line in "
        "the output); 1 the input or output was refused (nothing written); 130 interrupted.",
    )
    batch.add_argument(
        "input",
        help="NDJSON file of patient records, one a line (a pipe or named pipe is read as a "
        "stream; - for standard input)",
    )
    batch.add_argument(
        "-o",
        "--output",
        required=True,
        help="NDJSON results file: a regular file or a new path, replaced only when complete "
        "(- for stdout)",
    )
    batch.add_argument(
        "--processes", type=_positive, default=None, help="worker processes (default: CPUs)"
    )
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    with_rules(batch)
    synth = commands.add_parser(
        "synth", help="write N synthetic patients (invented, seeded) as NDJSON"
    )
    synth.add_argument("count", type=_count, help="how many patients (0 or more)")
    synth.add_argument(
        "-o", "--output", required=True, help="NDJSON file (- for stdout); with bulk, a directory"
    )
    synth.add_argument(
        "--format",
        choices=("records", "bulk"),
        default="records",
        help="records (NDJSON, one record a line) or bulk (a FHIR Bulk Data export directory "
        "of the same patients)",
    )
    synth.add_argument("--seed", type=int, default=0, help="the same seed gives the same cohort")
    serve = commands.add_parser("serve", help="run the CDS Hooks service (patient-view)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: localhost only)")
    serve.add_argument("--port", type=_port, default=8080, help="TCP port (default: 8080)")
    serve.add_argument(
        "--clients", metavar="FILE", help="trusted CDS clients (TOML); required off loopback"
    )
    serve.add_argument(
        "--base-url", metavar="URL", help="the service's public URL, which tokens must name"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed to call (repeatable; none by default)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes, each with its own engine (default: 1; the cores: more throughput)",
    )
    serve.add_argument(
        "--max-body",
        type=_positive,
        default=5 * 1024 * 1024,
        metavar="BYTES",
        help="largest request body (default: 5 MB)",
    )
    serve.add_argument(
        "--report-minutes",
        type=_positive,
        default=15,
        metavar="MINUTES",
        help="how long a card's link to the full report stays valid (default: 15)",
    )
    with_rules(serve)
    to_fhir = commands.add_parser(
        "to-fhir", help="print a record (JSON file, or - for stdin) as a FHIR R4 Bundle"
    )
    to_fhir.add_argument("file", help="a patient record (JSON file; - for stdin)")
    to_fhir.add_argument(
        "--patients",
        metavar="FILE",
        help="JSON: Patient elements (name, birthDate, ...) by patient_id, e.g. invented names",
    )
    commands.add_parser("schema", help="print the patient record's JSON Schema")
    commands.add_parser(
        "questionnaire", help="print the pathway assessment as a FHIR R4 Questionnaire"
    )
    rules = commands.add_parser("rules", help="list the rules and validate a rule directory")
    rules.add_argument(
        "directory", nargs="?", help="rule directory to validate (default: the packaged rules)"
    )
    shown = rules.add_mutually_exclusive_group()
    shown.add_argument(
        "--markdown", action="store_true", help="print the rule catalogue as Markdown"
    )
    shown.add_argument(
        "--diagram", action="store_true", help="print the pathway as a Mermaid flowchart"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    try:
        return _run(argv)
    except (InputError, FbssPathwayError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a program killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # so the exit's flush cannot fail again
        return 141
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        print(json.dumps(PatientRecord.model_json_schema(), indent=2))
        return 0
    if args.command == "synth":
        return _synth(args)
    if args.command == "to-fhir":
        return _to_fhir(args)
    if args.command == "questionnaire":
        return _questionnaire()
    if args.command == "worklist":
        return worklist(args)
    directory = args.directory if args.command == "rules" else args.rules
    try:
        ruleset = load_ruleset(directory)
    except RuleSetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    commands = {
        "evaluate": _evaluate,
        "demo": _demo,
        "report": report,
        "screen": screen,
        "batch": _batch,
        "serve": serve,
        "rules": _rules,
    }
    try:
        return commands[args.command](args, ruleset)
    except FbssPathwayError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
