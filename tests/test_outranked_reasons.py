"""Reasons of outranked rules never read as advice for an option, nor a hold as a later one.

Nothing a rule found is lost (pathway.md 4): the reasons of the rules that fired
beside the deciding one follow its own. Under ``not_appropriate`` or ``in_place``
they no longer apply, so they are introduced as set aside, never with "also:",
which read "SCS not appropriate ... also: spinal cord stimulation strongly
recommended" as a contradiction (an MDT review, 2026-12).
"""

from __future__ import annotations

import json

from fbss_pathway import evaluate
from fbss_pathway.cli import example_paths
from fbss_pathway.synth import synthetic_cohort
from fbss_pathway.vocabulary import Verdict

from .helpers import patched

SET_ASIDE = "set aside by the above: "
ALSO_HELD = "also held: "


def test_a_failed_trial_does_not_go_on_to_recommend_stimulation() -> None:
    record = patched(
        {
            "pain": {
                "back_nrs": 4,
                "leg_nrs": 7,
                "radiating_leg_pain": True,
                "neuropathic_features": True,
            },
            "treatments": [
                {
                    "kind": "exercise_therapy",
                    "start_date": "2024-07-01",
                    "duration_weeks": 16,
                    "adherence": "good",
                },
                {
                    "kind": "scs_trial",
                    "start_date": "2026-08-03",
                    "duration_weeks": 1,
                    "relief_percent": 40,  # success from 50 %: a failed trial
                    "analgesic_use": "not_increased",
                    "activity": "not_worse",
                    "wishes_to_proceed": True,
                    "technically_adequate": True,
                },
            ],
        }
    )
    scs = evaluate(record, ladder=False).option("spinal_cord_stimulation")
    assert scs.verdict is Verdict.NOT_APPROPRIATE
    # A clinician's review: "set aside by the above: ... strongly recommended" still read
    # as advice after a failed trial. What would have opened the option is named by its
    # rule in also_from, its reason left out.
    assert not any("recommended" in reason for reason in scs.reasons)
    assert scs.also_from, "the outranked rules are named"
    assert not any(reason.startswith("also: ") for reason in scs.reasons[1:])


def test_no_option_against_or_in_place_adds_reasons_with_also() -> None:
    records = [json.loads(path.read_text()) for path in example_paths()]
    records += [r.model_dump(mode="json") for r in synthetic_cohort(600, seed=11)]
    seen = 0
    for record in records:
        for option in evaluate(record, ladder=False).options:
            if option.verdict in (Verdict.NOT_APPROPRIATE, Verdict.IN_PLACE):
                assert not any(r.startswith("also: ") for r in option.reasons[1:]), option
                seen += len(option.also_from)
    assert seen, "some outranked rules under those verdicts were seen"


def test_a_safety_hold_beside_a_not_yet_is_held_now_never_later() -> None:
    # An MDT review: "later: red-flag screen incomplete" read a present hold as a future one.
    record = patched(
        {
            "pain": {"back_nrs": 3, "leg_nrs": 8, "radiating_leg_pain": True},
            "treatments": [],  # no exercise yet: the options wait (not yet)
            "red_flags": {"suspected_malignancy": "<unknown>"},  # the screen incomplete
        }
    )
    result = evaluate(record, ladder=False)
    held = [
        (option.verdict, reason)
        for option in result.options
        for reason in option.reasons[1:]
        if "red-flag screen incomplete" in reason
    ]
    assert held, "the hold is kept beside the deciding reason"
    for verdict, reason in held:
        if verdict is not Verdict.BLOCKED:
            assert reason.startswith(ALSO_HELD), reason


def test_no_hold_is_ever_introduced_as_later_or_once_recorded() -> None:
    records = [json.loads(path.read_text()) for path in example_paths()]
    records += [r.model_dump(mode="json") for r in synthetic_cohort(600, seed=12)]
    for record in records:
        for option in evaluate(record, ladder=False).options:
            for reason in option.reasons[1:]:
                if "red-flag screen incomplete" in reason or "pregnancy:" in reason:
                    assert not reason.startswith(("later: ", "once recorded: ")), reason
