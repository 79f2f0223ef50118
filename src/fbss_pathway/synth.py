"""A seeded generator of synthetic patients, for benchmarks, load tests and demos.

The patients are invented. They are drawn from a handful of clinical pictures
seen after lumbar spine surgery, so that a cohort reaches every stage of the
pathway in plausible proportions: a few red flags, patients still early after
their operation or in their first conservative trial, axial facet-joint pain,
radiating leg pain, findings for a surgical opinion, and incomplete records in
which many items are unknown. The same seed always gives the same cohort.

Nothing here is a prevalence estimate: the weights only make benchmarks
exercise all of the rules.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from .facts import months_begun
from .record import PatientRecord

__all__ = ["ASSESSMENT_DATE", "synthetic_cohort", "synthetic_record"]

#: Every synthetic patient is assessed on this day, so cohorts do not change with the calendar.
ASSESSMENT_DATE = date(2026, 10, 1)

Draft = dict[str, Any]


def synthetic_cohort(count: int, *, seed: int = 0) -> Iterator[PatientRecord]:
    """Yield ``count`` valid synthetic patients; the same seed gives the same patients.

    Raises:
        ValueError: ``count`` is negative.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    for number in range(1, count + 1):
        yield synthetic_record(rng, patient_id=f"SYNTH-{seed}-{number:07d}")


def synthetic_record(rng: random.Random, *, patient_id: str | None = None) -> PatientRecord:
    """One synthetic patient drawn with ``rng`` (see the module docstring)."""
    picture = rng.choices(_PICTURES, weights=_WEIGHTS)[0]
    draft = _baseline(rng)
    picture(rng, draft)
    if patient_id is not None:
        draft["patient_id"] = patient_id
    return PatientRecord.model_validate(draft)


def _days_before(days: int) -> str:
    return (ASSESSMENT_DATE - timedelta(days=days)).isoformat()


def _flag(rng: random.Random, p_true: float, p_unknown: float = 0.0) -> bool | None:
    draw = rng.random()
    if draw < p_unknown:
        return None
    return draw < p_unknown + p_true


def _baseline(rng: random.Random) -> Draft:
    """A patient months after surgery, no red flags, with a few common comorbid findings."""
    last = rng.randint(120, 2500)
    operations = [
        {
            "date": _days_before(last + sum(rng.randint(200, 900) for _ in range(earlier))),
            "kind": rng.choice(["decompression_discectomy", "laminectomy", "fusion"]),
            "levels": [rng.choice(["L3-L4", "L4-L5", "L5-S1"])],
        }
        for earlier in range(rng.choices([1, 2, 3, 4], weights=[60, 25, 10, 5])[0])
    ]
    return {
        "assessment_date": ASSESSMENT_DATE.isoformat(),
        "age_years": rng.randint(25, 85),
        "operations": operations[::-1],
        "pain": {
            "back_nrs": rng.randint(3, 8),
            "leg_nrs": rng.randint(0, 5),
            "radiating_leg_pain": _flag(rng, 0.3),
            "neuropathic_features": _flag(rng, 0.2),
            "duration_months": float(min(last // 30, rng.randint(3, 60))),
        },
        "findings": {
            name: _flag(rng, 0.1)
            for name in (
                "facet_arthropathy",
                "adjacent_segment_degeneration",
                "foraminal_stenosis",
                "internal_disc_disruption",
                "recurrent_disc_herniation",
                "concordant_radiculopathy",
                "epidural_fibrosis",
                "pseudarthrosis",
                "sacroiliac_joint_pain",
            )
        }
        | {"recurrent_disc_herniation": False, "pseudarthrosis": False},
        "red_flags": {
            "cauda_equina_signs": False,
            "progressive_motor_deficit": False,
            "suspected_infection": False,
            "suspected_structural_failure": False,
            "suspected_malignancy": False,
        },
        "treatments": [_exercise(rng, adequate=True), _analgesics(rng)],
        "psychosocial": {
            "phq9": rng.choices([rng.randint(0, 9), rng.randint(10, 27)], weights=[70, 30])[0],
            "gad7": rng.choices([rng.randint(0, 9), rng.randint(10, 21)], weights=[75, 25])[0],
            "sleep_disorder": _flag(rng, 0.3),
            "family_problems": _flag(rng, 0.15),
            "economic_problems": _flag(rng, 0.15),
            "social_problems": _flag(rng, 0.1),
            "active_substance_misuse": _flag(rng, 0.03),
            "psychological_evaluation": None,
        },
        "examination": {
            "myofascial_trigger_zones": _flag(rng, 0.35),
            "skin_allodynia": _flag(rng, 0.1),
            "scar_trigger_zones": _flag(rng, 0.15),
            "scar_allodynia": _flag(rng, 0.1),
        },
        "in_fitness_programme": _flag(rng, 0.3),
        "oswestry_disability_index": float(rng.randint(10, 70)),
    }


def _exercise(rng: random.Random, *, adequate: bool) -> Draft:
    weeks = rng.choice([12, 16, 20, 26]) if adequate else rng.choice([2, 4, 6, 8])
    return {
        "kind": "exercise_therapy",
        "start_date": _days_before(weeks * 7 + rng.randint(0, 60)),
        "duration_weeks": float(weeks),
        "adherence": "good" if adequate else rng.choice(["good", "partial", "poor"]),
    }


def _analgesics(rng: random.Random) -> Draft:
    return {
        "kind": "analgesics",
        "start_date": _days_before(rng.randint(60, 400)),
        "opioid": _flag(rng, 0.25),
        "benefit": _flag(rng, 0.5),
        "side_effects": rng.choice(["none", "mild", "severe"]),
    }


def _procedure(
    rng: random.Random, kind: str, *, success: bool, days: tuple[int, int] = (30, 300)
) -> Draft:
    relief = rng.randint(55, 95) if success else rng.randint(0, 45)
    started = ASSESSMENT_DATE - timedelta(days=rng.randint(*days))
    lasted = rng.randint(3, 18) if success else rng.randint(0, 2)
    return {
        "kind": kind,
        "start_date": started.isoformat(),
        "relief_percent": float(relief),
        # Relief lasts no longer than the time since the procedure (the record refuses it).
        "relief_duration_months": float(min(lasted, months_begun(started, ASSESSMENT_DATE))),
    }


def _red_flag(rng: random.Random, draft: Draft) -> None:
    flag = rng.choice(list(draft["red_flags"]))
    draft["red_flags"][flag] = True


def _early_after_surgery(rng: random.Random, draft: Draft) -> None:
    draft["operations"][-1]["date"] = _days_before(rng.randint(10, 85))
    draft["pain"]["duration_months"] = 1.0
    draft["treatments"] = [_analgesics(rng)]


def _first_conservative_trial(rng: random.Random, draft: Draft) -> None:
    draft["treatments"] = [_exercise(rng, adequate=False), _analgesics(rng)]


def _axial_facet_pain(rng: random.Random, draft: Draft) -> None:
    pain = draft["pain"]
    pain.update(back_nrs=rng.randint(5, 9), leg_nrs=rng.randint(0, 3), radiating_leg_pain=False)
    draft["findings"]["facet_arthropathy"] = True
    step = rng.choice(["none", "block_positive", "block_negative", "denervated"])
    if step != "none":
        draft["treatments"].append(
            _procedure(rng, "medial_branch_block", success=step != "block_negative")
        )
    if step == "denervated":
        draft["treatments"].append(
            _procedure(rng, "radiofrequency_denervation", success=rng.random() < 0.6)
        )


def _radiating_leg_pain(rng: random.Random, draft: Draft) -> None:
    pain = draft["pain"]
    pain.update(
        back_nrs=rng.randint(2, 5),
        leg_nrs=rng.randint(5, 9),
        radiating_leg_pain=True,
        neuropathic_features=_flag(rng, 0.7),
        duration_months=float(rng.randint(6, 72)),
    )
    draft["operations"][-1]["date"] = _days_before(rng.randint(200, 2000))
    draft["findings"]["epidural_fibrosis"] = _flag(rng, 0.5)
    draft["scs"] = {
        "team_assessment_done": _flag(rng, 0.7, 0.1),
        "active_infection": False,
        "uncorrectable_coagulopathy": False,
        "unable_to_operate_device": _flag(rng, 0.05),
        "pregnancy": False,
        "mri_need_incompatible": _flag(rng, 0.05),
    }
    draft["psychosocial"]["psychological_evaluation"] = rng.choice(
        ["no_concerns", "no_concerns", "concerns", None]
    )
    step = rng.choice(["none", "none", "trial", "implant"])
    if step in ("trial", "implant"):
        success = step == "implant" or rng.random() < 0.6
        trial = _procedure(rng, "scs_trial", success=success, days=(200, 400))
        # The other parts of success (pathway.md 7.4) as a typical trial records them:
        # the relief decides, and no random draw is added (seeded cohorts stay the same).
        trial.update(analgesic_use="not_increased", activity="not_worse", wishes_to_proceed=True)
        draft["treatments"].append(trial)
    if step == "implant":
        implant = _procedure(rng, "scs_implant", success=rng.random() < 0.7, days=(30, 190))
        draft["treatments"].append(implant)


def _surgical_opinion(rng: random.Random, draft: Draft) -> None:
    if rng.random() < 0.5:
        draft["findings"].update(recurrent_disc_herniation=True, concordant_radiculopathy=True)
        draft["pain"].update(leg_nrs=rng.randint(6, 9), radiating_leg_pain=True)
    else:
        draft["findings"]["pseudarthrosis"] = True
        draft["operations"][-1]["kind"] = "fusion"


def _incomplete_record(rng: random.Random, draft: Draft) -> None:
    """An export where many items were never recorded: they become unknown."""
    for section in ("pain", "findings", "red_flags", "psychosocial", "examination"):
        for name in draft[section]:
            if rng.random() < 0.4:
                draft[section][name] = None
    if rng.random() < 0.5:
        draft["treatments"] = []


_PICTURES: tuple[Callable[[random.Random, Draft], None], ...] = (
    _red_flag,
    _early_after_surgery,
    _first_conservative_trial,
    _axial_facet_pain,
    _radiating_leg_pain,
    _surgical_opinion,
    _incomplete_record,
)
_WEIGHTS = (4, 8, 18, 25, 25, 8, 12)
