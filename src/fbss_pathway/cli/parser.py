"""The ``fbss-pathway`` command line's grammar: its sub-commands, options and their checks.

Argument types refuse what cannot be right (a port of 0, a count below zero)
as usage errors (exit status 2) before anything is read; what the commands do
is in :mod:`fbss_pathway.cli`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..ruleset import load_ruleset
from .population import add_population_commands
from .report import add_report_command

__all__ = ["REJECTED_RECORDS", "command_line"]

#: The exit status of a batch that completed with rejected records (see
#: :mod:`fbss_pathway.cli`).
REJECTED_RECORDS = 3


def _with_width(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--width",
        type=int,
        default=None,
        metavar="COLUMNS",
        help="wrap the text at COLUMNS (default: the terminal's width, at most 100; 88 in a pipe)",
    )


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


class _Version(argparse.Action):
    """--version: the package, and the rule set it evaluates with (loaded only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"fbss-pathway {__version__}, rule set {load_ruleset().version}")
        parser.exit()


def command_line() -> argparse.ArgumentParser:
    """Every sub-command with its options and help."""
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
