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
from typing import BinaryIO

from pydantic import ValidationError

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
from .parser import REJECTED_RECORDS, command_line
from .population import screen, worklist
from .report import report, write_example_reports
from .serve import serve

__all__ = ["REJECTED_RECORDS", "example_paths", "main"]


def _evaluate(args: argparse.Namespace, ruleset: RuleSet) -> int:
    recommendation = recommend_file(args.file, ruleset)
    if recommendation is None:
        return 0  # outside the pathway, which was said
    if args.format == "json":
        print(recommendation.model_dump_json(indent=2))
    else:
        print(format_recommendation(recommendation, width=_columns(args.width), ruleset=ruleset))
    return 0


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
    args = command_line().parse_args(argv)
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
