"""The pathway diagram: generated from the rule files, so it shows what the rules say."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from fbss_pathway import load_ruleset
from fbss_pathway.cli import main
from fbss_pathway.explain.diagram import mermaid_diagram
from fbss_pathway.ruleset import default_rules_path
from fbss_pathway.vocabulary import LADDER, Verdict


def test_every_rung_every_opening_verdict_and_every_hold_is_drawn() -> None:
    ruleset = load_ruleset()
    text = mermaid_diagram(ruleset)
    assert text.startswith("flowchart BT\n")
    for stage in LADDER:
        assert f"  subgraph {stage.value}[" in text
    assert 'urgent_review["' in text
    assert text.count("  subgraph ") == text.count("\n  end\n")
    opening = (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE, Verdict.IN_PLACE)
    for rule in ruleset.rules:
        node = rule.id.replace("-", "_")
        if rule.verdict in opening:
            assert re.search(rf'^    {node}\["<b>{rule.id}</b>', text, re.M), rule.id
        if rule.verdict is Verdict.BLOCKED:
            assert f'{node} -.->|"holds back"|' in text, rule.id
    # The radiofrequency step names what it needs, in clinical words.
    rf = next(line for line in text.splitlines() if "<b>RFD-17</b>" in line)
    assert "Relief from the medial branch block: at least 50 %" in rf


def test_a_site_sees_its_own_thresholds(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_path(), rules)
    parameters = rules / "parameters.toml"
    text = parameters.read_text()
    parameters.write_text(
        re.sub(r"(\[block_positive_relief_percent\]\nvalue = )50", r"\g<1>80", text)
    )
    diagram = mermaid_diagram(load_ruleset(rules))
    assert "Relief from the medial branch block: at least 80 %" in diagram
    assert "block_positive_relief_percent = 80 % relief (consensus)" in diagram


def test_labels_never_break_out_of_their_quotes() -> None:
    for line in mermaid_diagram(load_ruleset()).splitlines():
        quoted = re.findall(r'"([^"]*)"', line)
        assert line.count('"') == 2 * len(quoted), line


def test_the_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--diagram"]) == 0
    assert capsys.readouterr().out == mermaid_diagram(load_ruleset())
