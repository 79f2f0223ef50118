"""The pathway of a rule set as a Mermaid flowchart, generated from its rule files.

The ladder climbs bottom to top; each rung is a box holding its options (pathway.md
4) and, under each, the verdict rules that can open it (``appropriate``, ``may be
appropriate``, ``in place``), each with its criteria. Rules that hold an option
back (``blocked``) point at the option; red flags pre-empt everything.
Thresholds appear with their values (criteria quote them, and the parameters are
listed), so a site that edits ``parameters.toml`` sees its own numbers; derived
facts appear under their rules' titles. Mermaid renders on common code hosts.
"""

from __future__ import annotations

import itertools

from ..ruleset import RuleSet
from ..vocabulary import LADDER, Option, Stage, Verdict
from .criteria_view import criterion_plans
from .summary import stage_words

__all__ = ["mermaid_diagram"]

_OPENS = (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE, Verdict.IN_PLACE)
_ON_RUNG = {
    Stage.CONSERVATIVE: (Option.CONSERVATIVE_CARE,),
    Stage.RADIOFREQUENCY: (Option.FACET_INTERVENTION, Option.SIJ_INTERVENTION),
    Stage.NEUROMODULATION: (Option.SPINAL_CORD_STIMULATION,),
    Stage.SPECIALIST_REVIEW: (Option.PAIN_MANAGEMENT_PROGRAMME, Option.SURGICAL_OPINION),
}


def mermaid_diagram(ruleset: RuleSet) -> str:
    """The rule set's pathway as Mermaid flowchart text (without a code fence)."""
    plans = criterion_plans(ruleset)
    lines = ["flowchart BT"]
    for stage in LADDER:
        lines.append(f'  subgraph {stage.value}["{_label(stage_words(stage))}"]')
        lines.append("    direction TB")
        for option in _ON_RUNG[stage]:
            for index, rule in enumerate(ruleset.rules):
                if option not in rule.options or rule.verdict not in _OPENS:
                    continue
                needs = "<br/>".join(_label(c.text) for c in plans[index])
                text = f"<b>{rule.id}</b> {_label(rule.title)} ({rule.verdict})" + (
                    f"<br/>{needs}" if needs else ""
                )
                lines.append(f'    {_node(rule.id)}["{text}"]')
        lines.append("  end")
    for lower, upper in itertools.pairwise(LADDER):
        lines.append(f"  {lower.value} --> {upper.value}")
    lines.append(f'  urgent_review["{_label(stage_words(Stage.URGENT_REVIEW))}"]')
    lines.append(f'  {LADDER[-1].value} -.->|"any red flag pre-empts every rung"| urgent_review')
    for rule in ruleset.rules:
        if rule.verdict is Verdict.BLOCKED:
            lines.append(f'  {_node(rule.id)}(["<b>{rule.id}</b> {_label(rule.title)}"])')
            rungs = dict.fromkeys(o.rung for o in rule.options if o.rung is not None)
            lines += [f'  {_node(rule.id)} -.->|"holds back"| {r.value}' for r in rungs]
    parameters = "<br/>".join(
        f"{_label(p.name)} = {p.value if isinstance(p.value, str) else f'{p.value:g}'} "
        f"{_label(p.unit)} ({p.basis})"
        for p in ruleset.parameters.values()
    )
    lines.append(f'  parameters["<b>Parameters</b><br/>{parameters}"]')
    return "\n".join(lines) + "\n"


def _node(rule_id: str) -> str:
    return rule_id.replace("-", "_")


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
