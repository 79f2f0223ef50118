"""Spinal cord stimulation (pathway.md 4, 7.1-7.5): the reported defects and the rest.

The advice level as rule data, the typical outcomes for a shared decision, and the
new items through FHIR.

Each patient is the neutral base (tests/rule_cases/base.toml) patched; "an SCS candidate"
has leg pain 8/10 radiating and neuropathic over back pain 3/10 for 30 months after the
base's adequate conservative trial.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from fbss_pathway import (
    ActionCode,
    Option,
    PatientRecord,
    Recommendation,
    Stage,
    Verdict,
    evaluate,
    load_ruleset,
)
from fbss_pathway.cds_hooks.cards import cards
from fbss_pathway.cli import example_paths
from fbss_pathway.errors import RuleSetError
from fbss_pathway.fhir import bundle_from_record, read_bundle, response_from_record
from fbss_pathway.report import html_report
from fbss_pathway.vocabulary import ScsAdvice

from .helpers import patched
from .strategies import records

SCS = Option.SPINAL_CORD_STIMULATION
EXERCISE = {"kind": "exercise_therapy", "start_date": "2024-07-01", "duration_weeks": 16}
NEUROPATHIC_LEG = {"back_nrs": 3, "leg_nrs": 8, "radiating_leg_pain": True}
NEUROPATHIC_LEG |= {"neuropathic_features": True}


def _evaluate(patch: dict[str, Any], *, ladder: bool = False) -> Recommendation:
    return evaluate(patched(patch), ladder=ladder)


def _trial(**parts: Any) -> dict[str, Any]:
    return {"treatments": [{**EXERCISE, "adherence": "good"}, {"kind": "scs_trial", **parts}]}


# --- The reported defects ---------------------------------------------------------------


def test_leg_equal_to_back_with_a_neuropathic_component_is_strongly_recommended() -> None:
    pain = {"back_nrs": 7, "leg_nrs": 7, "radiating_leg_pain": True, "neuropathic_features": True}
    scs = _evaluate({"pain": pain}).option(SCS)
    assert scs.verdict is Verdict.APPROPRIATE
    assert scs.advice_level is ScsAdvice.STRONGLY_RECOMMENDED
    assert scs.next_step is ActionCode.SCS_ASSESSMENT


def test_radiating_pain_judged_not_neuropathic_is_rarely_recommended_in_the_mdt_words() -> None:
    pain = {**NEUROPATHIC_LEG, "neuropathic_features": False}
    scs = _evaluate({"pain": pain}).option(SCS)
    assert scs.verdict is Verdict.NOT_APPROPRIATE
    assert scs.advice_level is ScsAdvice.RARELY_RECOMMENDED
    assert "SCS evidence is strongest for leg-predominant neuropathic pain" in scs.reasons[0]
    assert "discuss at the MDT" in scs.reasons[0]
    assert not any("does not apply" in reason for reason in scs.reasons)


def test_a_facet_work_up_never_holds_back_scs_for_leg_predominant_neuropathic_pain() -> None:
    pain = {"back_nrs": 5, "leg_nrs": 8, "radiating_leg_pain": True, "neuropathic_features": True}
    findings = {"facet_arthropathy": True, "facet_pain_suspected": "<unknown>"}
    result = _evaluate({"pain": pain, "findings": findings})
    assert result.option(SCS).verdict is Verdict.APPROPRIATE
    assert result.option(SCS).next_step is ActionCode.SCS_ASSESSMENT
    # the facet work-up runs beside it, in parallel
    assert ActionCode.MEDIAL_BRANCH_BLOCK in result.action_codes()
    assert ActionCode.SCS_ASSESSMENT in result.action_codes()
    assert result.stage is Stage.NEUROMODULATION


def test_back_predominant_neuropathic_pain_with_a_facet_source_waits_for_the_facet_work_up() -> (
    None
):
    pain = {"back_nrs": 8, "leg_nrs": 6, "neuropathic_features": True}
    result = _evaluate({"pain": pain, "findings": {"facet_pain_suspected": True}})
    scs = result.option(SCS)
    assert scs.verdict is Verdict.NOT_YET
    assert scs.next_step is ActionCode.MEDIAL_BRANCH_BLOCK
    assert "after the facet work-up" in scs.reasons[0]
    assert result.stage is Stage.RADIOFREQUENCY
    negative = {"kind": "medial_branch_block", "start_date": "2026-08-01", "relief_percent": 10}
    ruled_out = _evaluate(
        {
            "pain": pain,
            "findings": {"facet_pain_suspected": True},
            "treatments": [{**EXERCISE, "adherence": "good"}, negative],
        }
    )
    assert ruled_out.option(Option.FACET_INTERVENTION).verdict is Verdict.NOT_APPROPRIATE
    assert ruled_out.option(SCS).verdict is Verdict.MAY_BE_APPROPRIATE


def test_a_50_percent_trial_with_doubled_analgesics_failed() -> None:
    patch = _trial(
        start_date="2026-08-01",
        relief_percent=50,
        analgesic_use="increased",
        activity="not_worse",
        wishes_to_proceed=True,
    )
    result = _evaluate({"pain": NEUROPATHIC_LEG, **patch})
    assert result.option(SCS).verdict is Verdict.NOT_APPROPRIATE
    assert "trial failed" in result.option(SCS).reasons[0]
    assert ActionCode.SCS_IMPLANT not in result.action_codes()


def test_a_trial_with_a_part_unrecorded_has_an_unknown_outcome_never_failed() -> None:
    patch = _trial(start_date="2026-08-01", relief_percent=70, analgesic_use="not_increased")
    result = _evaluate({"pain": NEUROPATHIC_LEG, **patch})
    assert result.option(SCS).verdict is Verdict.UNKNOWN
    fields = {m.field for m in result.missing}
    assert "treatments[scs_trial, most recent].activity" in fields
    assert "treatments[scs_trial, most recent].wishes_to_proceed" in fields


WORKED_UP = {
    "scs": {"team_assessment_done": True},
    "psychosocial": {"psychological_evaluation": "no_concerns"},
}


def test_a_technically_inadequate_trial_is_repeated_whatever_the_relief() -> None:
    for relief in (10, 80):
        patch = _trial(start_date="2026-08-01", relief_percent=relief, technically_adequate=False)
        result = _evaluate({"pain": NEUROPATHIC_LEG, **patch, **WORKED_UP})
        assert result.option(SCS).next_step is ActionCode.REPEAT_SCS_TRIAL, relief
        assert result.option(SCS).verdict is not Verdict.NOT_APPROPRIATE, relief
        assert ActionCode.SCS_IMPLANT not in result.action_codes()


@pytest.mark.parametrize(
    ("work_up", "first"),
    [
        ({}, ActionCode.SCS_ASSESSMENT),
        ({"scs": {"team_assessment_done": True}}, ActionCode.PSYCHOLOGICAL_EVALUATION),
        (
            {"psychosocial": {"psychological_evaluation": "no_concerns"}},
            ActionCode.SCS_ASSESSMENT,
        ),
    ],
)
def test_a_repeat_trial_waits_for_the_work_up_a_trial_needs(
    work_up: dict[str, Any], first: ActionCode
) -> None:
    """A repeat trial is a trial (pathway.md 7.3): never without the MDT and psychology.

    An outside review found ``repeat_scs_trial`` recommended with neither on record.
    """
    patch = _trial(start_date="2026-08-01", relief_percent=30, technically_adequate=False)
    result = _evaluate({"pain": NEUROPATHIC_LEG, **patch, **work_up})
    assert result.option(SCS).verdict is Verdict.APPROPRIATE
    assert result.option(SCS).next_step is first
    assert ActionCode.REPEAT_SCS_TRIAL not in result.action_codes()
    assert first in result.action_codes()


@pytest.mark.parametrize(
    ("relief", "step"),
    [
        (50, ActionCode.SCS_FOLLOW_UP),
        (40, ActionCode.SCS_OPTIMISATION),
        (30, ActionCode.SCS_OPTIMISATION),
        (29.5, ActionCode.SCS_DEVICE_REVIEW),
        (None, None),
    ],
)
def test_an_implant_is_in_place_with_the_step_of_its_band(
    relief: float | None, step: ActionCode | None
) -> None:
    implant = {"kind": "scs_implant", "start_date": "2025-06-01", "relief_percent": relief}
    result = _evaluate(
        {"pain": NEUROPATHIC_LEG, "treatments": [{**EXERCISE, "adherence": "good"}, implant]}
    )
    assert result.option(SCS).verdict is Verdict.IN_PLACE
    assert result.option(SCS).next_step is step
    assert result.stage is Stage.NEUROMODULATION  # never straight to specialist review


# --- The psychosocial layer ----------------------------------------------------------------


def test_a_severe_factor_holds_scs_with_the_action_that_addresses_it_and_the_programme() -> None:
    result = _evaluate(
        {
            "pain": NEUROPATHIC_LEG,
            "psychosocial": {"factors": {"problematic_social_support": "severe"}},
        }
    )
    scs = result.option(SCS)
    assert scs.verdict is Verdict.BLOCKED
    assert scs.next_step is ActionCode.PSYCHOSOCIAL_SUPPORT
    assert {ActionCode.PSYCHOSOCIAL_SUPPORT, ActionCode.MULTIDISCIPLINARY_PAIN_PROGRAMME} <= set(
        result.action_codes()
    )
    programme = result.option(Option.PAIN_MANAGEMENT_PROGRAMME)
    assert programme.verdict is Verdict.APPROPRIATE


def test_a_modifiable_factor_lowers_the_advice_one_level_but_never_below_recommended() -> None:
    modifiable = {"psychosocial": {"factors": {"dysfunctional_coping": "modifiable"}}}
    leg = _evaluate({"pain": NEUROPATHIC_LEG, **modifiable}).option(SCS)
    assert leg.advice_level is ScsAdvice.RECOMMENDED
    assert leg.verdict is Verdict.MAY_BE_APPROPRIATE
    assert leg.next_step is ActionCode.SCS_ASSESSMENT  # the work-up goes on
    back = {"back_nrs": 8, "leg_nrs": 6, "neuropathic_features": True}
    assert _evaluate({"pain": back, **modifiable}).option(SCS).advice_level is (
        ScsAdvice.RECOMMENDED
    )


def test_unrecorded_factors_read_as_absent_after_an_evaluation_without_concerns() -> None:
    factors = dict.fromkeys(("secondary_gain", "psychological_distress"), "<unknown>")
    cleared = {"psychological_evaluation": "no_concerns", "factors": factors}
    scs = _evaluate({"pain": NEUROPATHIC_LEG, "psychosocial": cleared}).option(SCS)
    assert scs.advice_level is ScsAdvice.STRONGLY_RECOMMENDED
    assert scs.verdict is Verdict.APPROPRIATE
    concerns = {"psychological_evaluation": "concerns", "factors": factors}
    held = _evaluate({"pain": NEUROPATHIC_LEG, "psychosocial": concerns}).option(SCS)
    assert held.verdict is Verdict.BLOCKED  # the stricter of evaluation and factors


def test_the_option_shows_thomson_2022_with_its_population_never_as_a_promise() -> None:
    scs = _evaluate({"pain": NEUROPATHIC_LEG}).option(SCS)
    figures = [reason for reason in scs.reasons if "Thomson 2022" in reason]
    assert len(figures) == 1
    assert "not a promise" in figures[0]
    assert "strongly recommended on clinical grounds" in figures[0]


# --- Advice as rule data, and its readers ------------------------------------------------


def test_the_advice_level_is_read_from_the_rule_files() -> None:
    advising = {rule.id: rule.advice for rule in load_ruleset().rules if rule.advice}
    assert set(advising.values()) == set(ScsAdvice)
    assert all(rule_id.startswith("SCS-") for rule_id in advising)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'option = "facet_intervention"\nverdict = "appropriate"\nadvice = "recommended"',
            "advice",
        ),
        ('option = "spinal_cord_stimulation"\nverdict = "appropriate"\nadvice = "sure"', "advice"),
    ],
)
def test_loading_refuses_an_advice_off_scs_or_outside_the_vocabulary(
    tmp_path: Any, extra: str, message: str
) -> None:
    head = '[[rule]]\nid = "XX-01"\ntitle = "t"\nalways = true\nreason = "r"\n'
    rule = f'{head}sources = ["s"]\n{extra}\n'
    (tmp_path / "sources.toml").write_text('[s]\ncitation = "c"\n')
    (tmp_path / "parameters.toml").write_text("")
    (tmp_path / "extra.toml").write_text(rule)
    with pytest.raises(RuleSetError, match=message):
        load_ruleset(tmp_path)


def test_the_scs_card_names_the_advice_level() -> None:
    record = PatientRecord.model_validate(patched({"pain": NEUROPATHIC_LEG}))
    details = [card["detail"] for card in cards(evaluate(record, ladder=False), record=record)]
    assert any("Advice: strongly recommended." in detail for detail in details)


def test_the_report_shows_typical_outcomes_only_where_scs_is_open() -> None:
    open_report = html_report(_evaluate({"pain": NEUROPATHIC_LEG}, ladder=True))
    assert 'id="scs-typical-outcomes"' in open_report
    assert "PROCESS trial (2007)" in open_report
    assert "48 % of patients with SCS against 9 %" in open_report
    assert "not a promise" in open_report
    severe = {"psychosocial": {"factors": {"secondary_gain": "severe"}}}
    held = html_report(_evaluate({"pain": NEUROPATHIC_LEG, **severe}, ladder=True))
    assert 'id="scs-typical-outcomes"' not in held


# --- The new items through FHIR ------------------------------------------------------------

_ITEMS = {
    "patient_id": "scs-1",
    "pain": {"dn4": 5, "lanss": 13, "paindetect": 17, "target_pain": "back"},
    "scs": {"conventional_management_failed": True},
    "psychosocial": {
        "factors": {"secondary_gain": "severe", "psychological_distress": "modifiable"}
    },
    **_trial(
        start_date="2026-08-01",
        relief_percent=55,
        analgesic_use="increased",
        activity="not_worse",
        wishes_to_proceed=True,
        technically_adequate=True,
    ),
}


def test_the_scs_items_round_trip_through_a_bundle() -> None:
    record = PatientRecord.model_validate(patched(_ITEMS))
    assert read_bundle(bundle_from_record(record)).record == record


def test_the_scs_items_round_trip_through_the_assessment_form() -> None:
    record = PatientRecord.model_validate(patched(_ITEMS))
    written = bundle_from_record(record)
    form = {
        **written,
        "entry": [written["entry"][0], {"resource": response_from_record(record)}],
    }
    reading = read_bundle(form)
    assert reading.ignored == []
    assert reading.record == record


# --- A clinical invariant ------------------------------------------------------------------


def _facets_removed(data: dict[str, Any]) -> dict[str, Any]:
    findings = {"facet_pain_suspected": False, "facet_arthropathy": False}
    findings["adjacent_segment_degeneration"] = False
    kept = [
        t
        for t in data["treatments"]
        if t["kind"] not in ("medial_branch_block", "radiofrequency_denervation")
    ]
    return {**data, "findings": {**data["findings"], **findings}, "treatments": kept}


@given(records)
def test_radicular_leg_predominant_neuropathic_pain_is_never_held_by_the_facet_work_up(
    record: PatientRecord,
) -> None:
    data = record.model_dump(mode="json")
    back, leg = data["pain"]["back_nrs"], data["pain"]["leg_nrs"]
    leg = max(leg or 0, back or 0, 5)
    data["pain"] |= {"leg_nrs": leg, "radiating_leg_pain": True, "neuropathic_features": True}
    with_facets = evaluate(PatientRecord.model_validate(data), ladder=False).option(SCS)
    without = evaluate(PatientRecord.model_validate(_facets_removed(data)), ladder=False).option(
        SCS
    )
    assert with_facets.verdict is without.verdict
    assert with_facets.next_step is without.next_step
    facet_steps = {ActionCode.MEDIAL_BRANCH_BLOCK, ActionCode.RADIOFREQUENCY_DENERVATION}
    assert not (with_facets.verdict is Verdict.NOT_YET and with_facets.next_step in facet_steps)


def test_a_held_scs_card_gives_the_advice_as_what_follows_the_hold() -> None:
    """Blocked beside "Advice: strongly recommended" reads as a contradiction (Sandbox review)."""
    path = next(p for p in example_paths() if p.name.startswith("10_"))
    record = PatientRecord.model_validate_json(path.read_bytes())
    result = evaluate(record, ladder=False)
    assert result.option(Option.SPINAL_CORD_STIMULATION).verdict is Verdict.BLOCKED
    details = "\n".join(card["detail"] for card in cards(result, record=record))
    assert "Clinical advice once what holds it is resolved: strongly recommended." in details
    assert "Advice: strongly recommended." not in details


@pytest.mark.parametrize(
    ("screen", "score", "source"), [("dn4", 5, "bouhassira2005"), ("lanss", 14, "bennett2001")]
)
def test_a_screen_that_decides_the_neuropathic_component_is_shown_with_its_source(
    screen: str, score: int, source: str
) -> None:
    # pathway.md 12 and 0: every result shows the inputs read and the source of each
    # threshold. An outside review: with DN4 5 and no clinician's judgement, SCS was
    # strongly recommended and "dn4" appeared nowhere in the result.
    result = _evaluate(
        {
            "pain": {
                "back_nrs": 3,
                "leg_nrs": 8,
                "radiating_leg_pain": True,
                "neuropathic_features": None,
                screen: score,
            },
            "scs": {"team_assessment_done": True},
            "psychosocial": {"psychological_evaluation": "no_concerns"},
        }
    )
    scs = result.option(Option.SPINAL_CORD_STIMULATION)
    assert scs.advice_level is ScsAdvice.STRONGLY_RECOMMENDED
    assert screen in {item.fact for item in scs.inputs}
    assert source in scs.sources


@pytest.mark.parametrize(("months", "possible"), [(5.0, "1 Nov 2026"), (5.5, "17 Oct 2026")])
def test_not_yet_for_the_months_of_pain_says_the_date_it_becomes_possible(
    months: float, possible: str
) -> None:
    # pathway.md 4: not_yet comes "with the date it becomes possible". An outside review:
    # the 3-month rule gave its date, the 6 months of pain only "once it has lasted 6
    # months". The date is the follow-up's own (pain_six_months), never earlier.
    result = _evaluate({"pain": {**NEUROPATHIC_LEG, "duration_months": months}})
    scs = result.option(SCS)
    assert scs.verdict is Verdict.NOT_YET
    assert scs.rule_id == "SCS-29"
    assert f"from {possible}" in scs.reasons[0]
    [due] = [d for d in result.reassess if d.item.value == "pain_six_months"]
    assert possible == f"{due.due.day} {due.due:%b %Y}"


def test_thomson_2022_figures_are_shown_with_their_source() -> None:
    # pathway.md 0: every figure carries its source. An outside review: the 86 % / 60 %
    # of Thomson 2022 were printed on the option without thomson2022 among its sources.
    scs = _evaluate({"pain": NEUROPATHIC_LEG}).option(SCS)
    assert any("Thomson 2022" in reason for reason in scs.reasons)
    assert "thomson2022" in scs.sources
