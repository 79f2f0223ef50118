"""The command line as a new user and an attacker meet it: answers, files, help and errors."""

from __future__ import annotations

import argparse
import json
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway.cli import example_paths, main
from fbss_pathway.cli.parser import command_line

EXAMPLES = Path(__file__).parent.parent / "examples"
OUTSIDE = {"resourceType": "Bundle", "type": "collection", "entry": []}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- evaluate and report agree --------------------------------------------------------------


def test_outside_the_pathway_is_an_answer_for_evaluate_and_report_alike(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle = tmp_path / "child.json"
    bundle.write_text(json.dumps(OUTSIDE))
    code, out, _ = run(capsys, "evaluate", str(bundle))
    assert code == 0
    assert "outside the PSPS type 2 (FBSS) pathway: no completed lumbar spine operation" in out
    target = tmp_path / "report.html"
    code, out, err = run(capsys, "report", str(bundle), "-o", str(target))
    assert code == 0
    assert (
        "outside the PSPS type 2 (FBSS) pathway: no completed lumbar spine operation" in out + err
    )
    assert "error" not in err
    assert "no report written" in err
    assert not target.exists()


# --- report: the format from the suffix, what was written -----------------------------------


@pytest.mark.parametrize(
    ("name", "format_", "starts"),
    [
        ("ladder.svg", None, "<svg"),
        ("LADDER.SVG", None, "<svg"),
        ("page.html", None, "<!DOCTYPE html>"),
        ("page.htm", None, "<!DOCTYPE html>"),
        ("page", None, "<!DOCTYPE html>"),
        ("ladder.svg", "html", "<!DOCTYPE html>"),  # said outright: as said
    ],
)
def test_report_takes_its_format_from_the_output_suffix(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    format_: str | None,
    starts: str,
) -> None:
    target = tmp_path / name
    extra = ["--format", format_] if format_ else []
    code, _, err = run(capsys, "report", str(example_paths()[3]), "-o", str(target), *extra)
    assert code == 0
    assert target.read_text(encoding="utf-8").lstrip().lower().startswith(starts.lower())
    assert str(target) in err


def test_synth_says_what_it_wrote(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "cohort.ndjson"
    code, _, err = run(capsys, "synth", "7", "-o", str(target))
    assert code == 0
    assert f"7 synthetic patients written to {target}" in err


# --- help -----------------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = command_line()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no sub-commands")


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_argument_and_option_has_help_text(command: str) -> None:
    missing = [
        action.dest
        for action in _subcommands()[command]._actions
        if not isinstance(action, argparse._HelpAction)
        and (not action.help or action.help == argparse.SUPPRESS)
    ]
    assert missing == [], f"{command}: no help for {missing}"


# --- titles that would break the page -------------------------------------------------------


def _controls(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r"]


@pytest.mark.parametrize(
    "title", ["Mrs X\x01", "bell\x07 and NUL\x00", "C1\x85\x9b", "undecodable \udcff", "tab\tnl\n"]
)
def test_a_title_with_control_characters_still_makes_valid_svg_and_html(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, title: str
) -> None:
    record = str(example_paths()[3])
    svg, page = tmp_path / "ladder.svg", tmp_path / "page.html"
    assert run(capsys, "report", record, "-o", str(svg), "--title", title)[0] == 0
    assert run(capsys, "report", record, "-o", str(page), "--title", title)[0] == 0
    text = svg.read_text(encoding="utf-8")
    ET.fromstring(text)  # well-formed XML
    assert _controls(text) == []
    assert _controls(page.read_text(encoding="utf-8")) == []


# --- worklists ------------------------------------------------------------------------------


def test_a_worklist_of_a_missing_directory_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "worklist", str(tmp_path / "nonexist"))
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert "holds no screen" in err
    assert len(err.splitlines()) == 1


def _screen(directory: Path, rows: list[dict[str, Any]]) -> Path:
    """A screen's output as a finished screen leaves it (rows, summary, its marker)."""
    from fbss_pathway.population.rows import write_rows

    (directory / "patients").mkdir(parents=True)
    base: dict[str, Any] = {
        "outcome": "evaluated",
        "stage": None,
        "actions": [],
        "red_flags": [],
        "verdicts": None,
        "warnings": [],
        "missing_count": 0,
        "ruleset_version": "test",
        "error_kind": None,
        "detail": None,
    }
    write_rows([{**base, **row} for row in rows], directory / "patients" / "part-00000.parquet")
    (directory / "summary.json").write_text("{}")
    (directory / ".fbss-pathway-screen").write_text("fbss-pathway screen\n")
    return directory


def test_text_worklists_mark_cut_actions_and_name_red_flags_in_words(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    many = ["exercise_therapy", "fitness_program", "screen_depression_anxiety", "opioid_review"]
    output = _screen(
        tmp_path / "screen",
        [
            {"patient_id": "p1", "stage": "conservative", "actions": many},
            {"patient_id": "p2", "stage": "conservative", "actions": many[:2]},
            {
                "patient_id": "p3",
                "stage": "urgent_review",
                "actions": ["emergency_assessment"],
                "red_flags": ["RED-01"],
            },
        ],
    )
    code, out, _ = run(capsys, "worklist", str(output))
    assert code == 0
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    assert lines["p1"].endswith("...")
    assert not lines["p2"].endswith("...")
    assert "Cauda equina signs" in lines["p3"]
    assert "RED-01" not in lines["p3"]
    code, out, _ = run(capsys, "worklist", str(output), "--action", "opioid_review")
    assert code == 0
    assert "Opioid review" in out
    assert out.startswith("p1\t")


def test_the_verdict_filter_and_json_verdicts_are_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = _screen(
        tmp_path / "screen",
        [
            {"patient_id": "p1", "stage": "conservative", "verdicts": {"conservative_care": "x"}},
            {"patient_id": "p2", "stage": "conservative"},
        ],
    )
    code, out, _ = run(
        capsys, "worklist", str(output), "--verdict", "conservative_care=x", "--format", "json"
    )
    assert code in (0, 1)  # 'x' is no verdict: refused by name, or listed; never a traceback
    code, out, _ = run(capsys, "worklist", str(output), "--format", "json")
    assert code == 0
    assert json.loads(out.splitlines()[0])["verdicts"] == {"conservative_care": "x"}
