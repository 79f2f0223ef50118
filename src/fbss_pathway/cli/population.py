"""``fbss-pathway screen`` and ``worklist``: an export screened on Dask, and who is where."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from ..explain.follow_up import ITEM_WORDS
from ..explain.words import code_words
from ..ruleset import RuleSet
from ..vocabulary import ActionCode, Option, ReassessItem, Stage, Verdict
from .inputs import InputError

__all__ = ["add_population_commands", "screen", "worklist"]


def add_population_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """The ``screen`` and ``worklist`` sub-commands' arguments."""
    screen_cmd = commands.add_parser(
        "screen",
        help="screen a FHIR Bulk Data export on Dask: one Parquet row per patient in OUT",
    )
    screen_cmd.add_argument("export", help="export directory (manifest.json or *.ndjson files)")
    screen_cmd.add_argument("-o", "--output", required=True, help="output directory")
    where = screen_cmd.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: the cores)"
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786"
    )
    screen_cmd.add_argument(
        "--assessment-date",
        type=calendar_day,
        help="the day the data stand for (default: the manifest's transactionTime, else today)",
    )
    screen_cmd.add_argument(
        "--partition-patients",
        type=int,
        default=1000,
        help="the most patients one partition should hold (default: 1000)",
    )
    screen_cmd.add_argument(
        "--max-file-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="refuse an export file larger than this, decompressed (default: 64 GiB)",
    )
    screen_cmd.add_argument(
        "--max-file-lines",
        type=int,
        default=None,
        metavar="LINES",
        help="refuse an export file of more lines, blank ones included (default: 200 million)",
    )
    screen_cmd.add_argument(
        "--max-gzip-ratio",
        type=int,
        default=None,
        metavar="N",
        help="refuse a .gz file that decompresses to more than N times its size (default: 200)",
    )
    screen_cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    screen_cmd.add_argument(
        "--rules", metavar="DIR", help="rule directory (default: the packaged rules)"
    )
    worklist_cmd = commands.add_parser(
        "worklist", help="list the patients of a screen on a stage, with a red flag or an action"
    )
    worklist_cmd.add_argument("output", help="a screen's output directory")
    worklist_cmd.add_argument(
        "--stage", choices=[s.value for s in Stage], help="patients placed on this stage"
    )
    worklist_cmd.add_argument(
        "--action",
        choices=[a.value for a in ActionCode],
        help="patients with this action recommended (shown on each line)",
    )
    worklist_cmd.add_argument("--red-flags", action="store_true", help="patients with a red flag")
    worklist_cmd.add_argument(
        "--verdict",
        action="append",
        default=[],
        metavar="OPTION=VERDICT",
        help="patients whose option has this verdict, e.g. spinal_cord_stimulation=blocked "
        "(repeat to combine)",
    )
    worklist_cmd.add_argument(
        "--due-before",
        type=calendar_day,
        metavar="DATE",
        help="patients with a follow-up date on or before DATE (YYYY-MM-DD), overdue included, "
        "the most overdue first; each line shows the date",
    )
    worklist_cmd.add_argument(
        "--outcome",
        choices=("evaluated", "not_applicable", "rejected"),
        default=None,
        help="patients with this outcome of the screen",
    )
    worklist_cmd.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (a line per patient: id, stage, red flags or actions in words) or json "
        "(every column of the row, for programs; the rule set's version is in summary.json)",
    )
    worklist_cmd.add_argument(
        "--rules",
        metavar="DIR",
        help="rule directory naming the red flags (default: the packaged rules)",
    )


def _population() -> Any:
    try:
        from .. import population
    except ImportError as error:
        raise InputError(str(error)) from None
    return population


def screen(args: argparse.Namespace, ruleset: RuleSet) -> int:
    """Run the screen and print its summary (and where the files are)."""
    screen_export = _population().screen_export

    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.partition_patients < 1:
        raise InputError("--partition-patients must be at least 1")
    if args.assessment_date is not None and args.assessment_date > date.today():
        raise InputError("--assessment-date is after today: every patient would be refused")
    for option in ("max_file_bytes", "max_file_lines", "max_gzip_ratio"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise InputError(f"--{option.replace('_', '-')} must be at least 1")
    summary = screen_export(
        Path(args.export),
        Path(args.output),
        workers=args.workers,
        scheduler=args.scheduler,
        assessment_date=args.assessment_date,
        partition_patients=args.partition_patients,
        ruleset=ruleset,
        progress=False if args.no_progress else None,
        max_file_bytes=args.max_file_bytes,
        max_file_lines=args.max_file_lines,
        max_gzip_ratio=args.max_gzip_ratio,
    )
    print("\n".join(summary.lines_for_people()))
    print(f"rows in {Path(args.output) / 'patients'}; summary.json and measure-report.json beside")
    return 0


def calendar_day(text: str) -> date:
    """A date written YYYY-MM-DD, as the help says.

    Not 20261231 or 2026-W53-4, which Python's ISO reader takes too; argparse
    refuses anything else naming the option.
    """
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        pass
    raise argparse.ArgumentTypeError(f"not a date written YYYY-MM-DD: {text[:40]!r}")


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _verdicts(pairs: list[str]) -> dict[str, str]:
    """``OPTION=VERDICT`` arguments as a mapping, each name checked."""
    found: dict[str, str] = {}
    for pair in pairs:
        option, sep, verdict = pair.partition("=")
        if not sep or option not in {o.value for o in Option}:
            raise InputError(
                f"--verdict takes OPTION=VERDICT; options: {', '.join(o.value for o in Option)}"
            )
        if verdict not in {v.value for v in Verdict}:
            raise InputError(f"--verdict: verdicts are {', '.join(v.value for v in Verdict)}")
        found[option] = verdict
    return found


def worklist(args: argparse.Namespace) -> int:
    """Print the patients on the worklist asked for, one a line."""
    entries = _population().worklist

    found = entries(
        Path(args.output),
        stage=args.stage,
        action=args.action,
        red_flags=args.red_flags,
        outcome=args.outcome,
        verdicts=_verdicts(args.verdict),
        due_before=args.due_before,
    )
    count = 0
    titles: dict[str, str] | None = None
    for entry in found:
        count += 1
        if args.format == "json":
            print(json.dumps({k: _plain(getattr(entry, k)) for k in entry.__slots__}))
            continue
        what = entry.stage or entry.outcome
        if entry.red_flags:
            titles = _rule_titles(args.rules) if titles is None else titles
            extra = "; ".join(titles.get(rule, rule) for rule in entry.red_flags)
        else:  # a rejection's detail lists its problems a line each: one line a patient
            extra = " ".join((entry.detail or "").split()) or _actions_text(
                entry.actions, args.action
            )
        if args.due_before is not None:
            extra = f"{_due_text(entry)}\t{extra}"
        print(f"{entry.patient_id}\t{what}\t{extra}")
    print(f"{count} patients", file=sys.stderr)
    return 0


#: Actions shown on a line of a text worklist; "..." says there are more.
_SHOWN_ACTIONS = 3


def _actions_text(actions: tuple[str, ...], wanted: str | None) -> str:
    """The first actions in words, "..." where some are left out, and the one asked for."""
    shown = [code_words(code) for code in actions[:_SHOWN_ACTIONS]]
    last = min(len(actions), _SHOWN_ACTIONS) - 1
    if wanted is not None and wanted in actions[_SHOWN_ACTIONS:]:
        if actions.index(wanted) > last + 1:
            shown.append("...")
        last = actions.index(wanted)
        shown.append(code_words(wanted))
    if last < len(actions) - 1:
        shown.append("...")
    return ", ".join(shown)


def _due_text(entry: Any) -> str:
    """The next follow-up date and what it is for: "2026-12-01 Opioid review (overdue)"."""
    if entry.reassess_due is None or entry.reassess_item is None:
        return ""
    late = " (overdue)" if entry.reassess_overdue else ""
    words = ITEM_WORDS[ReassessItem(entry.reassess_item)]
    return f"{entry.reassess_due.isoformat()} {words}{late}"


def _rule_titles(directory: str | None) -> dict[str, str]:
    """Rule titles by id (ids are stable, never reused), from the rule directory's files."""
    from ..errors import RuleSetError
    from ..rules_engine.loading import read_rule_directory
    from ..ruleset import default_rules_path

    path = Path(directory) if directory is not None else default_rules_path()
    try:
        return {rule.id: rule.title for rule in read_rule_directory(path).rules}
    except RuleSetError as error:
        raise InputError(f"--rules: {error}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return dict(value) if isinstance(value, Mapping) else value
