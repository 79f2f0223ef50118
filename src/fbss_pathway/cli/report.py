"""``fbss-pathway report``: a recommendation as an HTML page, or a picture of the ladder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..evaluation import evaluate
from ..explain.words import code_words, in_sentence
from ..record import PatientRecord
from ..report import html_report, ladder_svg
from ..report.titles import plain_title
from ..ruleset import RuleSet
from .inputs import InputError, example_paths, recommend_file

__all__ = ["add_report_command", "plain_title", "report", "report_format", "write_example_reports"]

#: What the output's suffix says the format is, when --format does not.
_SUFFIX_FORMATS = {".svg": "svg", ".html": "html", ".htm": "html", ".xhtml": "html"}


def add_report_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``report`` sub-command's arguments."""
    report_cmd = commands.add_parser(
        "report",
        help="write one patient's report: an HTML page (or an .svg output: the ladder picture)",
    )
    report_cmd.add_argument("file", help="a patient record or FHIR R4 Bundle (JSON; - for stdin)")
    report_cmd.add_argument("-o", "--output", required=True, help="file to write (- for stdout)")
    report_cmd.add_argument(
        "--format",
        choices=("html", "svg"),
        default=None,
        help="html (a self-contained page) or svg (the ladder picture alone); by default "
        "from the output's suffix (.svg: svg), else html",
    )
    report_cmd.add_argument(
        "--title",
        help="the report's heading (default: a generic one); control characters are dropped",
    )
    report_cmd.add_argument(
        "--rules", metavar="DIR", help="rule directory (default: the packaged rules)"
    )


def report_format(output: str, asked: str | None) -> str:
    """The format asked for, else the one the output's suffix names, else html."""
    if asked is not None:
        return asked
    return "html" if output == "-" else _SUFFIX_FORMATS.get(Path(output).suffix.lower(), "html")


def report(args: argparse.Namespace, ruleset: RuleSet) -> int:
    """Write the report; for a patient outside the pathway, say why (an answer: exit 0)."""
    said = sys.stderr if args.output == "-" else sys.stdout
    recommendation = recommend_file(args.file, ruleset, said=said)
    if recommendation is None:
        print("no report written: the patient is outside the FBSS pathway", file=sys.stderr)
        return 0
    title = plain_title(args.title)
    chosen = report_format(args.output, args.format)
    if chosen == "svg":
        text = ladder_svg(recommendation, title=title)
    else:
        text = html_report(recommendation, title=title, ruleset=ruleset)
    _write(args.output, text)
    what = "SVG ladder picture" if chosen == "svg" else "HTML report"
    where = "standard output" if args.output == "-" else args.output
    print(f"{what} written to {where}", file=sys.stderr)
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
        number, _, name = path.stem.partition("_")
        title = (
            f"Example patient {number}: {in_sentence(code_words(name))}"  # words, not a file name
        )
        page = html_report(evaluate(record, ruleset=ruleset), title=title, ruleset=ruleset)
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
