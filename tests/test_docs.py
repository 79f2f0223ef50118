"""Code, rule files and docs agree: vocabulary, catalogue, facts and the public API."""

from __future__ import annotations

import re
from pathlib import Path

import fbss_pathway
from fbss_pathway import (
    ActionCode,
    Option,
    PatientRecord,
    RedFlagTier,
    Stage,
    Verdict,
    load_ruleset,
)
from fbss_pathway.catalogue import markdown_catalogue
from fbss_pathway.explain.diagram import mermaid_diagram
from fbss_pathway.facts import FACTS
from fbss_pathway.fhir import CodeMap
from fbss_pathway.follow_up import PARAMETERS as FOLLOW_UP_PARAMETERS
from fbss_pathway.rules_engine.conditions import AllOf, AnyOf, Compare, Condition
from fbss_pathway.vocabulary import RungStatus

from .helpers import facts_of, patched

DOCS = Path(__file__).parents[1] / "docs"


def _documented_codes(heading: str) -> list[str]:
    text = (DOCS / "vocabulary.md").read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)


def test_documented_stages_are_exactly_the_stages() -> None:
    assert _documented_codes("Stages") == [stage.value for stage in Stage]


def test_documented_rung_statuses_are_exactly_the_statuses() -> None:
    assert _documented_codes("Rung statuses") == [status.value for status in RungStatus]


def test_documented_actions_are_exactly_the_actions_in_display_order() -> None:
    assert _documented_codes("Actions") == [code.value for code in ActionCode]


def test_documented_options_verdicts_and_tiers_are_exactly_the_code() -> None:
    assert _documented_codes("Options") == [option.value for option in Option]
    assert _documented_codes("Verdicts") == [verdict.value for verdict in Verdict]
    assert _documented_codes("Red-flag tiers") == [tier.value for tier in RedFlagTier]


# Version 2 of the specification names these; their rules come with the issues that
# build sections 5.2, 7.1 and 7.4 (opioid stewardship, the neuropathic screen, repeat
# trials). Listed here so that the gap is explicit, never silent.
NOT_YET_USED: set[ActionCode] = set()


def test_every_option_verdict_tier_and_action_is_used_by_a_rule() -> None:
    rules = load_ruleset().rules
    used_actions = {code for rule in rules for code in (*rule.actions, *rule.steps)}
    assert set(ActionCode) - used_actions == NOT_YET_USED
    assert {option for rule in rules for option in rule.options} == set(Option)
    assert {rule.verdict for rule in rules if rule.verdict is not None} == set(Verdict)
    assert {rule.tier for rule in rules if rule.tier is not None} == set(RedFlagTier)


def test_documented_option_of_each_action_matches_the_code() -> None:
    text = (DOCS / "vocabulary.md").read_text()
    for code in ActionCode:
        row = re.search(rf"^\| `{code.value}` \| ([a-z_]+) \|", text, flags=re.MULTILINE)
        assert row is not None, code
        expected = "none" if code.option is None else code.option.value
        assert row.group(1) == expected, code


def test_documented_warning_keys_are_the_rules_keys() -> None:
    keys = {rule.warning_key for rule in load_ruleset().rules if rule.warning_key}
    documented = set(_documented_codes("Warning keys"))
    # red_flag_code_old is the FHIR reader's warning, not a rule's
    assert keys | {"red_flag_code_old"} == documented


def test_the_rule_catalogue_is_current() -> None:
    committed = (DOCS / "rule-catalogue.md").read_text()
    assert committed == markdown_catalogue(load_ruleset()), "run `make catalogue`"


def _parameters_in(condition: Condition) -> set[str]:
    match condition:
        case Compare(param=str(name)):
            return {name}
        case AllOf(items=items) | AnyOf(items=items):
            return set().union(*(_parameters_in(item) for item in items))
        case _:
            return set()


def test_the_pathway_diagram_in_the_docs_is_current() -> None:
    committed = (DOCS / "pathway.md").read_text()
    block = committed.split("<!-- diagram:start -->\n", 1)[1].split("<!-- diagram:end -->", 1)[0]
    assert block == f"```mermaid\n{mermaid_diagram(load_ruleset())}```\n", "run `make catalogue`"


def test_every_parameter_and_source_is_used() -> None:
    ruleset = load_ruleset()
    used = set()
    for rule in ruleset.rules:
        used |= _parameters_in(rule.when)
        used |= set(re.findall(r"\{([a-z0-9_]+)\}", rule.reason + (rule.warning or "")))
        if rule.expected_benefit is not None:
            used |= {rule.expected_benefit.low_param, rule.expected_benefit.high_param}
    used |= FOLLOW_UP_PARAMETERS  # the follow-up dates' intervals (pathway.md 10)
    assert set(ruleset.parameters) - used == set()
    cited = {s for rule in ruleset.rules for s in rule.sources}
    cited |= {s for p in ruleset.parameters.values() for s in p.sources}
    assert set(ruleset.sources) - cited == set()


def test_the_fact_catalogue_is_what_extraction_reads() -> None:
    record = PatientRecord.model_validate(
        patched(
            {
                "treatments": [
                    {
                        "kind": "exercise_therapy",
                        "start_date": "2025-01-06",
                        "duration_weeks": 12,
                        "adherence": "good",
                    },
                    {"kind": "analgesics", "opioid": True, "benefit": True, "side_effects": "mild"},
                    {
                        "kind": "medial_branch_block",
                        "start_date": "2026-05-01",
                        "relief_percent": 70,
                        "levels": ["L4-L5"],
                    },
                    {
                        "kind": "radiofrequency_denervation",
                        "start_date": "2026-09-01",
                        "relief_percent": 70,
                        "relief_duration_months": 1,
                    },
                    {
                        "kind": "trigger_zone_treatment",
                        "start_date": "2026-02-01",
                        "benefit": False,
                    },
                    {"kind": "psychological_therapy", "start_date": "2026-02-01", "benefit": True},
                    {
                        "kind": "scs_trial",
                        "start_date": "2025-06-01",
                        "relief_percent": 70,
                        "analgesic_use": "not_increased",
                        "activity": "not_worse",
                        "wishes_to_proceed": True,
                        "technically_adequate": True,
                    },
                    {"kind": "scs_implant", "relief_percent": 70},
                ],
                # under 6 months of pain: the day it reaches 6 is a fact too
                "pain": {"dn4": 5, "lanss": 14, "paindetect": 20, "duration_months": 4},
                "psychosocial": {
                    "psychological_evaluation": "no_concerns",
                    "psychological_evaluation_date": "2026-10-01",
                    "suicide_risk_assessment": {"date": "2026-10-01", "outcome": "low"},
                },
                "medicines": {
                    "antithrombotic": True,
                    "antithrombotic_can_pause": True,
                    "opioid_taper_under_way": False,
                    "past_opioid_overdose": False,
                    "suspected_opioid_use_disorder": False,
                    "opioids": [
                        {
                            "ingredient": "morphine",
                            "mme_per_day": 20,
                            "benefit": True,
                            "side_effects": "mild",
                        }
                    ],
                },
                "scs": {"team_assessment_done": True, "conventional_management_failed": True},
                "in_fitness_programme": True,
            }
        )
    )
    assert set(facts_of(record)) == set(FACTS)


def test_exported_names_are_sorted_and_importable() -> None:
    assert fbss_pathway.__all__ == sorted(fbss_pathway.__all__)
    for name in fbss_pathway.__all__:
        assert hasattr(fbss_pathway, name), name
    public = {
        n
        for n in dir(fbss_pathway)
        if (not n.startswith("_") and n[0].isupper()) or n in {"evaluate", "load_ruleset"}
    }
    assert public <= set(fbss_pathway.__all__)


def test_the_package_declares_its_types() -> None:
    assert (Path(fbss_pathway.__file__).parent / "py.typed").is_file()


def test_the_fhir_code_table_is_current() -> None:
    doc = (DOCS / "fhir.md").read_text(encoding="utf-8")
    table = doc.split("<!-- codes:start -->\n", 1)[1].split("<!-- codes:end -->", 1)[0]
    assert table == CodeMap.default().markdown(), "run make fhir-codes-doc"
