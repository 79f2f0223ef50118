"""The one hypothesis strategy for valid patient records, shared by every property test.

Values are drawn to reach every stage often: booleans are mostly recorded,
sometimes unknown; red flags are rare; exercise trials are often adequate.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from fbss_pathway import PatientRecord
from fbss_pathway.facts import months_begun

ASSESSED = date(2026, 10, 1)
EARLIEST = date(2010, 1, 1)

flags = st.sampled_from([False, True, None])
rare_flags = st.sampled_from([False, False, False, False, False, False, True, None])
nrs = st.one_of(st.integers(0, 10), st.none())
percent = st.one_of(st.integers(0, 100).map(float), st.none())
months = st.one_of(st.integers(0, 60).map(float), st.none())


def dates(start: date = EARLIEST, end: date = ASSESSED) -> st.SearchStrategy[date]:
    return st.integers(0, (end - start).days).map(lambda days: start + timedelta(days=days))


operations = st.lists(
    st.fixed_dictionaries(
        {
            "date": st.one_of(dates(), dates(ASSESSED - timedelta(days=200), ASSESSED)),
            "kind": st.sampled_from(["decompression_discectomy", "laminectomy", "fusion", "other"]),
        }
    ),
    min_size=1,
    max_size=5,
)

exercise = st.fixed_dictionaries(
    {
        "kind": st.just("exercise_therapy"),
        "start_date": st.one_of(dates(), st.none()),
        "duration_weeks": st.one_of(st.sampled_from([0.0, 6.0, 11.0, 12.0, 16.0, 30.0]), st.none()),
        "adherence": st.sampled_from(["good", "good", "partial", "poor", None]),
    }
)
analgesics = st.fixed_dictionaries(
    {
        "kind": st.just("analgesics"),
        "start_date": st.one_of(dates(), st.none()),
        "opioid": flags,
        "benefit": flags,
        "side_effects": st.sampled_from(["none", "mild", "severe", None]),
    }
)


def _outcome(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "kind": st.just(kind),
            "start_date": st.one_of(dates(), st.none()),
            "relief_percent": percent,
            "relief_duration_months": months,
        }
    )


def relief_within_time(treatment: dict[str, Any]) -> dict[str, Any]:
    """Relief no longer than the time from the treatment's start to the assessment.

    A longer one is a contradiction the record refuses.
    """
    started, lasted = treatment.get("start_date"), treatment.get("relief_duration_months")
    if started is None or lasted is None:
        return treatment
    return {**treatment, "relief_duration_months": min(lasted, months_begun(started, ASSESSED))}


#: The parts of an SCS trial's success (pathway.md 7.4), mostly recorded and successful.
trial_parts = st.fixed_dictionaries(
    {
        "analgesic_use": st.sampled_from(["not_increased", "not_increased", "increased", None]),
        "activity": st.sampled_from(["not_worse", "not_worse", "worse", None]),
        "wishes_to_proceed": st.sampled_from([True, True, False, None]),
        "technically_adequate": st.sampled_from([True, True, True, False, None]),
    }
)
#: A psychosocial factor (pathway.md 7.2): mostly absent.
factor = st.sampled_from(["absent", "absent", "absent", "modifiable", "severe", None])
FACTORS = (
    "lack_of_engagement",
    "dysfunctional_coping",
    "unrealistic_expectations",
    "secondary_gain",
    "inadequate_daily_activity",
    "problematic_social_support",
    "psychological_distress",
    "unwilling_to_reduce_opioids",
)


@st.composite
def treatments(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen: list[dict[str, Any]] = []
    if draw(st.booleans()) or draw(st.booleans()):
        chosen.append(draw(exercise))
    for strategy in (
        analgesics,
        _outcome("medial_branch_block"),
        _outcome("radiofrequency_denervation"),
        _outcome("psychological_therapy"),
    ):
        if draw(st.integers(0, 3)) == 0:
            chosen.append(draw(strategy))
    if draw(st.integers(0, 3)) == 0:
        trial = draw(_outcome("scs_trial"))
        trial["start_date"] = draw(dates(date(2020, 1, 1), date(2024, 1, 1)))
        trial.update(draw(trial_parts))
        chosen.append(trial)
        if draw(st.booleans()):
            implant = draw(_outcome("scs_implant"))
            implant["start_date"] = draw(dates(date(2024, 1, 2), ASSESSED))
            chosen.append(implant)
    return draw(st.permutations(chosen))


@st.composite
def record_data(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record as JSON-like data."""
    return {
        "assessment_date": ASSESSED,
        "age_years": draw(st.one_of(st.integers(18, 95), st.none())),
        "operations": draw(operations),
        "pain": {
            "back_nrs": draw(nrs),
            "leg_nrs": draw(nrs),
            "radiating_leg_pain": draw(flags),
            "neuropathic_features": draw(flags),
            "dn4": draw(st.one_of(st.none(), st.none(), st.integers(0, 10))),
            "lanss": draw(st.one_of(st.none(), st.none(), st.integers(0, 24))),
            "paindetect": draw(st.one_of(st.none(), st.none(), st.integers(-1, 38))),
            "target_pain": draw(st.sampled_from([None, None, None, "back", "leg"])),
            "duration_months": draw(
                st.one_of(st.sampled_from([2.0, 5.0, 6.0, 12.0, 40.0]), st.none())
            ),
        },
        "findings": {
            name: draw(flags)
            for name in (
                "facet_arthropathy",
                "adjacent_segment_degeneration",
                "foraminal_stenosis",
                "internal_disc_disruption",
                "recurrent_disc_herniation",
                "concordant_radiculopathy",
                "epidural_fibrosis",
                "pseudarthrosis",
                "hardware_failure",
                "sacroiliac_joint_pain",
                "facet_pain_suspected",
            )
        },
        "red_flags": {
            name: draw(rare_flags)
            for name in (
                "cauda_equina_signs",
                "progressive_motor_deficit",
                "suspected_infection",
                "infection_systemic_signs",
                "suspected_structural_failure",
                "suspected_malignancy",
            )
        }
        | {"screened_on": draw(st.one_of(st.none(), dates(ASSESSED - timedelta(days=200))))},
        "treatments": draw(treatments()),
        "psychosocial": {
            "phq9": draw(st.one_of(st.integers(0, 27), st.none())),
            "phq9_item9": draw(st.one_of(st.integers(0, 3), st.none())),
            "phq9_date": draw(st.one_of(st.none(), dates(ASSESSED - timedelta(days=200)))),
            "gad7": draw(st.one_of(st.integers(0, 21), st.none())),
            "gad7_date": draw(st.one_of(st.none(), dates(ASSESSED - timedelta(days=200)))),
            "psychological_evaluation_date": draw(
                st.one_of(st.none(), dates(ASSESSED - timedelta(days=400)))
            ),
            "suicide_risk_assessment": draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {
                            "date": dates(ASSESSED - timedelta(days=200)),
                            "outcome": st.sampled_from(["low", "moderate", "high"]),
                        }
                    ),
                )
            ),
            "sleep_disorder": draw(flags),
            "family_problems": draw(flags),
            "economic_problems": draw(flags),
            "social_problems": draw(flags),
            "active_substance_misuse": draw(rare_flags),
            "psychological_evaluation": draw(
                st.sampled_from(["not_done", "no_concerns", "concerns", None])
            ),
            "factors": {name: draw(factor) for name in FACTORS},
        },
        "examination": {
            name: draw(flags)
            for name in (
                "myofascial_trigger_zones",
                "skin_allodynia",
                "scar_trigger_zones",
                "scar_allodynia",
            )
        },
        "scs": {
            "team_assessment_done": draw(flags),
            **{
                name: draw(rare_flags)
                for name in (
                    "active_infection",
                    "uncorrectable_coagulopathy",
                    "unable_to_operate_device",
                    "pregnancy",
                    "mri_need_incompatible",
                    "cardiac_implantable_device",
                )
            },
            "conventional_management_failed": draw(flags),
        },
        "medicines": {
            name: draw(flags)
            for name in ("benzodiazepine", "gabapentinoid", "nsaid", "antithrombotic")
        },
        "surgical_opinion": draw(
            st.sampled_from(
                [None, "not_sought", "operation_advised", "not_surgical", "patient_declines"]
            )
        ),
        "in_fitness_programme": draw(flags),
        "oswestry_disability_index": draw(st.one_of(st.integers(0, 100).map(float), st.none())),
    }


def _consistent(data: dict[str, Any]) -> dict[str, Any]:
    """Item 9 is part of the PHQ-9 total: never above it; relief within the time since."""
    data["treatments"] = [relief_within_time(t) for t in data["treatments"]]
    mood = data["psychosocial"]
    if mood["phq9"] is not None and mood["phq9_item9"] is not None:
        # item 9 is part of the total, and the other eight items add up to 24 at most
        mood["phq9_item9"] = max(min(mood["phq9_item9"], mood["phq9"]), mood["phq9"] - 24)
    flags = data["red_flags"]
    if flags["suspected_infection"] is False and flags["infection_systemic_signs"] is True:
        flags["infection_systemic_signs"] = None  # signs of an infection nobody suspects
    return data


records = record_data().map(_consistent).map(PatientRecord.model_validate)


@st.composite
def ladder_record_data(draw: st.DrawFn) -> dict[str, Any]:
    """A record of a patient on the escalation ladder: the space where steps are recommended.

    No red flag, an adequate exercise trial, surgery long enough ago, and the
    items that decide between the ladder's stages recorded: pain, its duration and
    radiation, and the outcome of every procedure on record. Everything else as in
    :func:`record_data`.
    """
    data = draw(record_data())
    data["red_flags"] = {**dict.fromkeys(data["red_flags"], False), "screened_on": None}
    data["psychosocial"]["phq9_item9"] = 0 if data["psychosocial"]["phq9"] is not None else None
    data["operations"] = [
        {**operation, "date": draw(dates(EARLIEST, ASSESSED - timedelta(days=365)))}
        for operation in data["operations"]
    ]
    adequate = {
        "kind": "exercise_therapy",
        "start_date": None,
        "duration_weeks": 16.0,
        "adherence": "good",
    }
    data["treatments"] = [t for t in data["treatments"] if t["kind"] != "exercise_therapy"] + [
        adequate
    ]
    for treatment in data["treatments"]:
        if "relief_percent" in treatment:
            treatment["relief_percent"] = float(draw(st.integers(0, 100)))
            treatment["relief_duration_months"] = float(draw(st.integers(0, 24)))
    data["pain"]["back_nrs"] = draw(st.sampled_from([2, 4, 5, 6, 7, 8]))
    data["pain"]["leg_nrs"] = draw(st.sampled_from([2, 4, 5, 6, 7, 9]))
    data["pain"]["radiating_leg_pain"] = draw(st.booleans())
    data["pain"]["duration_months"] = draw(st.sampled_from([4.0, 6.0, 12.0, 40.0]))
    return data


ladder_records = ladder_record_data().map(_consistent).map(PatientRecord.model_validate)
