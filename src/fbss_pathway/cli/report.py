"""``fbss-pathway report``: a recommendation as an HTML page, or a picture of the ladder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..evaluation import evaluate
from ..record import PatientRecord
from ..report import html_report, ladder_svg
from ..ruleset import RuleSet
from .inputs import InputError, example_paths, recommend_file

__all__ = ["add_report_command", "report", "write_example_reports"]


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``report`` sub-command's arguments."""
    report_cmd = commands.add_parser(
        "report",
        help="write one patient's report: an HTML page (or --format svg: the ladder picture)",
    )
    report_cmd.add_argument("file", help="a patient record or FHIR R4 Bundle (JSON; - for stdin)")
    report_cmd.add_argument("-o", "--output", required=True, help="file to write (- for stdout)")
    report_cmd.add_argument("--format", choices=("html", "svg"), default="html")
    report_cmd.add_argument("--title", help="the report's heading (default: a generic one)")
    report_cmd.add_argument(
        "--rules", metavar="DIR", help="rule directory (default: the packaged rules)"
    )


def report(args: argparse.Namespace, ruleset: RuleSet) -> int:
    """Write the report; 1 with a message when the file makes no recommendation."""
    recommendation = recommend_file(args.file, ruleset)
    if recommendation is None:
        print("error: no report for a patient outside the FBSS pathway", file=sys.stderr)
        return 1
    if args.format == "svg":
        text = ladder_svg(recommendation, title=args.title)
    else:
        text = html_report(recommendation, title=args.title, ruleset=ruleset)
    _write(args.output, text)
    return 0


def write_example_reports(directory: Path, ruleset: RuleSet) -> list[Path]:
    """One HTML report per bundled example patient, named after it; returns the files."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create {directory}: {error.strerror}") from None
    written = []
    for path in example_paths():
        record = PatientRecord.model_validate_json(path.read_text(encoding="utf-8"))
        page = html_report(
            evaluate(record, ruleset=ruleset), title=f"Example patient {path.stem}", ruleset=ruleset
        )
        target = directory / f"{path.stem}.html"
        _write(str(target), page)
        written.append(target)
    return written


def _write(output: str, text: str) -> None:
    if output == "-":
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot write {output}: {error.strerror}") from None
