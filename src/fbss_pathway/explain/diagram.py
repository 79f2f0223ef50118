"""The pathway of a rule set as a Mermaid flowchart, generated from its rule files.

The same rungs, criteria and steps as the ladder view (``ladder_plan``): the
ladder climbs bottom to top, each rung a box holding its steps, each climb
labelled with the criteria the next rung needs; deferrals point at what they
hold back; red flags pre-empt everything. Thresholds appear with their values
(criteria quote them, and the parameters are listed), so a site that edits
``parameters.toml`` sees its own numbers; derived facts appear under their
rules' titles, defined in the rule catalogue. Mermaid renders on common code hosts.
"""

from __future__ import annotations

import itertools

from ..ruleset import RuleSet
from ..vocabulary import LADDER, Stage
from .ladder import CriterionPlan, ladder_plan
from .summary import stage_words

__all__ = ["mermaid_diagram"]


def mermaid_diagram(ruleset: RuleSet) -> str:
    """The rule set's pathway as Mermaid flowchart text (without a code fence)."""
    rungs = {rung.stage: rung for rung in ladder_plan(ruleset)}
    lines = ["flowchart BT"]
    for stage in (*LADDER, Stage.URGENT_REVIEW):
        rung = rungs[stage]
        lines.append(f'  subgraph {stage.value}["{_label(stage_words(stage))}"]')
        lines.append("    direction TB")
        for step in rung.steps:
            needs = "<br/>".join(_label(c.text) for c in step.criteria)
            text = f"<b>{step.rule_id}</b> {_label(step.title)}" + (
                f"<br/>{needs}" if needs else ""
            )
            lines.append(f'    {_node(step.rule_id)}["{text}"]')
        lines.append("  end")
    for lower, upper in itertools.pairwise(LADDER):
        lines.append(f'  {lower.value} -->|"{_criteria(rungs[upper].criteria)}"| {upper.value}')
    lines.append(f'  {LADDER[-1].value} -.->|"any red flag pre-empts every rung"| urgent_review')
    for rule in ruleset.rules:
        if rule.defers:
            lines.append(f'  {_node(rule.id)}(["<b>{rule.id}</b> {_label(rule.title)}"])')
        lines += [f'  {_node(rule.id)} -.->|"holds back"| {held.value}' for held in rule.defers]
    parameters = "<br/>".join(
        f"{_label(p.name)} = {p.value:g} {_label(p.unit)}" for p in ruleset.parameters.values()
    )
    lines.append(f'  parameters["<b>Parameters</b><br/>{parameters}"]')
    return "\n".join(lines) + "\n"


def _criteria(criteria: tuple[CriterionPlan, ...]) -> str:
    if not criteria:
        return "one of its steps"
    return " and<br/>".join(f"{_label(c.text)} ({c.rule_id})" for c in criteria)


def _node(rule_id: str) -> str:
    return rule_id.replace("-", "_")


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
