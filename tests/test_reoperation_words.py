"""The re-operation figures in the words pathway.md 8 and 11 ask for.

"Always as '% of patients improving', with year and population", and NORspine's
66 % (no previous operation) beside the odds for this patient's count. An
independent spec-derived case found "30 % improved after a second" and no 66 %.
"""

from __future__ import annotations

import pytest

from fbss_pathway import evaluate

from .helpers import patched

_OPERATION = {"kind": "decompression_discectomy", "levels": ["L5-S1"]}
_DATES = ("2016-02-01", "2018-03-01", "2020-04-01", "2022-05-01", "2024-03-12")


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_each_operation_count_states_its_figures_as_patients_improving(count: int) -> None:
    record = patched(
        {
            "operations": [{**_OPERATION, "date": day} for day in _DATES[-count:]],
            "findings": {"recurrent_disc_herniation": True, "concordant_radiculopathy": True},
            "pain": {"leg_nrs": 7, "radiating_leg_pain": True},
        }
    )
    result = evaluate(record, ladder=False)
    [caution] = [a for a in result.actions if a.code == "reoperation_caution"]
    text = caution.reason
    assert "% of patients improving" in text
    assert "Nachemson 1993" in text
    assert "NORspine registry (2023)" in text
    assert "66 % of patients operated for the first time" in text
    assert " improved after" not in text
