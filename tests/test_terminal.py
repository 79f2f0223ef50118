"""The terminal summary as a clinician reads it: width, wrapping and order (issue 23)."""

from __future__ import annotations

import re

import pytest

from fbss_pathway.cli import example_paths, main
from fbss_pathway.explain.layout import wrap


def test_a_number_never_parts_from_its_unit_and_words_never_break_at_hyphens() -> None:
    text = "the block gave 20 % relief for 3 months, 40 mg a day, anti-inflammatory " * 6
    for width in range(24, 60):
        lines = wrap(text, width)
        assert all(len(line) <= width for line in lines if " " in line.strip())
        for line in lines:
            assert not re.search(r"\d$", line), line  # never "20" at the end, "%" next line
            assert not line.endswith("-"), line
        assert " ".join(lines).count("20 %") == 6


def test_continuation_lines_hang_under_their_item() -> None:
    lines = wrap("- " + "a warning that runs on for a while " * 4, 40, "  ", "    ")
    assert lines[0].startswith("  - ")
    assert all(line.startswith("    ") for line in lines[1:])


@pytest.mark.parametrize("width", [50, 72, 100])
def test_evaluate_wraps_at_the_width_asked_for(
    capsys: pytest.CaptureFixture[str], width: int
) -> None:
    path = next(p for p in example_paths() if p.name.startswith("04_"))
    assert main(["evaluate", str(path), "--width", str(width)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    head = out.splitlines()
    assert head[0].startswith("PSPS type 2 (FBSS) pathway: ")
    assert any(line.startswith("Assessed 1 Oct 2026 · age 54") for line in head[:4])
    assert out.index("Options") < out.index("Next steps")
    assert "radiofrequency_denervation" not in out  # words, not codes
