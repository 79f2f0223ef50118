"""Gaps found in review of the medicines read from FHIR, each once a silent wrong answer.

- Benzodiazepines a US chart codes only in RxNorm (clobazam, clorazepate, triazolam,
  estazolam, flurazepam, quazepam, midazolam, remimazolam) were in no class: beside an
  opioid, no opioid + benzodiazepine warning (MED-08).
- Propoxyphene (withdrawn in the US in 2010, still in old charts) was no opioid: its
  combination with acetaminophen read as a non-opioid analgesic. It is an opioid the
  CDC 2022 table gives no factor for: ``other``, MME unknown and listed as missing.
- A dosage timed only by ``timing.code`` (FHIR R4 timing abbreviations: BID, TID,
  Q4H, ...) left the dose unknown. Codes whose frequency the value set defines are
  read; codes that name a time of day (AM, PM, BED) are not, and say so.

The RxNorm clinical drug names and codes below are those of VSAC's Schedule IV
Benzodiazepines value set and of the OMTK drug table (medicines.toml, opioids.toml).
"""

from __future__ import annotations

from typing import Any

import pytest

from fbss_pathway import PatientRecord, evaluate
from fbss_pathway.fhir.dosage import daily_dose, strength_in
from fbss_pathway.record import OpioidIngredient

from .fhir_builders import RXNORM, medication, read, read_record

GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
UCUM = "http://unitsofmeasure.org"
OXYCODONE = ("7804", "oxyCODONE Hydrochloride 5 MG Oral Tablet")

#: Benzodiazepines by an RxNorm clinical drug (code, name) of VSAC 2.16.840.1.113762.1.4.1125.1.
BENZODIAZEPINES = {
    "clobazam": ("199450", "clobazam 10 MG Oral Tablet"),
    "clorazepate": ("197464", "clorazepate dipotassium 15 MG Oral Tablet"),
    "triazolam": ("198318", "triazolam 0.25 MG Oral Tablet"),
    "estazolam": ("197653", "estazolam 1 MG Oral Tablet"),
    "flurazepam": ("1298088", "flurazepam hydrochloride 15 MG Oral Capsule"),
    "quazepam": ("198183", "quazepam 15 MG Oral Tablet"),
    "midazolam": ("422410", "midazolam 2 MG/ML Oral Solution"),
    "remimazolam": ("2383946", "remimazolam 20 MG Injection"),
}


def _warning_keys(record: PatientRecord) -> set[str | None]:
    return {w.key for w in evaluate(record, ladder=False).warnings}


def _dosed(resource: dict[str, Any], *dosages: dict[str, Any]) -> dict[str, Any]:
    resource["dosageInstruction"] = list(dosages)
    return resource


def _by_code(code: str, count: float = 1, unit: str | None = None) -> dict[str, Any]:
    """A dosage of ``count`` (tablets, or in ``unit``) timed only by a timing abbreviation."""
    quantity: dict[str, Any] = {"value": count}
    if unit is not None:
        quantity |= {"unit": unit, "system": UCUM, "code": unit}
    return {
        "timing": {"code": {"coding": [{"system": GTS, "code": code}]}},
        "doseAndRate": [{"doseQuantity": quantity}],
    }


# --- Benzodiazepines coded in RxNorm only -----------------------------------------------


@pytest.mark.parametrize("ingredient", sorted(BENZODIAZEPINES))
def test_a_benzodiazepine_in_rxnorm_alone_beside_an_opioid_is_warned(ingredient: str) -> None:
    code, name = BENZODIAZEPINES[ingredient]
    record = read_record(
        medication(*OXYCODONE),
        medication(code, name, kind="MedicationStatement"),
    )
    assert record.medicines.benzodiazepine is True
    assert "opioid_benzodiazepine" in _warning_keys(record)


@pytest.mark.parametrize(("cui", "ingredient"), [("21241", "clobazam"), ("6960", "midazolam")])
def test_a_benzodiazepine_ingredient_cui_without_a_display_is_read(
    cui: str, ingredient: str
) -> None:
    statement = medication(cui, "", kind="MedicationStatement")
    statement["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": cui}]}
    assert read_record(statement).medicines.benzodiazepine is True, ingredient


def test_an_opioid_alone_gives_no_benzodiazepine_warning() -> None:
    record = read_record(medication(*OXYCODONE))
    assert record.medicines.benzodiazepine is None
    assert "opioid_benzodiazepine" not in _warning_keys(record)


# --- Propoxyphene: an opioid without a CDC factor -----------------------------------------


def test_propoxyphene_is_an_opioid_read_as_other_with_its_dose() -> None:
    # OMTK drug table: 849304 'acetaminophen 500 MG / propoxyphene napsylate 100 MG Oral
    # Tablet', ingredient 8785 Propoxyphene. One tablet four times a day: 400 mg a day.
    combination = "acetaminophen 500 MG / propoxyphene napsylate 100 MG Oral Tablet"
    record = read_record(_dosed(medication("849304", combination), _by_code("QID")))
    [use] = record.medicines.opioids
    assert (use.ingredient, use.daily_dose_mg) == (OpioidIngredient.OTHER, 400.0)
    assert [t.opioid for t in record.treatments] == [True]  # never a non-opioid analgesic


def test_propoxyphene_by_its_ingredient_cui_alone_is_an_opioid() -> None:
    request = medication("8785", "")
    request["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "8785"}]}
    [use] = read_record(request).medicines.opioids
    assert use.ingredient is OpioidIngredient.OTHER


def test_propoxyphene_s_mme_is_unknown_and_listed_as_missing_never_guessed() -> None:
    combination = "acetaminophen 325 MG / propoxyphene hydrochloride 32.5 MG Oral Tablet"
    record = read_record(
        _dosed(medication("849293", combination), _by_code("Q6H")),
        medication(*BENZODIAZEPINES["triazolam"], kind="MedicationStatement"),
    )
    result = evaluate(record, ladder=False)
    assert result.mme_per_day is None
    assert any(m.fact == "mme_per_day" for m in result.missing)
    assert "opioid_benzodiazepine" in {w.key for w in result.warnings}


# --- Timing given only as a code ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "per_day"),
    [
        ("QD", 1),
        ("BID", 2),
        ("TID", 3),
        ("QID", 4),
        ("QOD", 0.5),
        ("Q1H", 24),
        ("Q2H", 12),
        ("Q3H", 8),
        ("Q4H", 6),
        ("Q6H", 4),
        ("Q8H", 3),
        ("WK", 1 / 7),
        ("MO", 1 / 30),
    ],
)
def test_a_timing_code_of_a_defined_frequency_gives_the_daily_dose(
    code: str, per_day: float
) -> None:
    dose = daily_dose([_by_code(code, 5, "mg")], None, patch=False)
    assert dose.unknown is None
    assert dose.mg_per_day == pytest.approx(5 * per_day, abs=1e-6)  # kept to 6 decimals


def test_five_mg_bid_is_ten_mg_a_day_and_its_mme() -> None:
    request = _dosed(medication("7804", ""), _by_code("BID", 5, "mg"))
    request["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "7804"}]}
    record = read_record(request)
    [use] = record.medicines.opioids
    assert (use.ingredient, use.daily_dose_mg) == (OpioidIngredient.OXYCODONE, 10.0)
    assert evaluate(record, ladder=False).mme_per_day == pytest.approx(15.0)  # 10 x 1.5


def test_a_count_of_tablets_q4h_uses_the_strength_in_the_name() -> None:
    name = "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet"
    dose = daily_dose(
        [_by_code("Q4H")], strength_in(name, name.index("oxyCODONE") + 9), patch=False
    )
    assert dose.mg_per_day == 30.0


@pytest.mark.parametrize("code", ["AM", "PM", "BED"])
def test_a_timing_code_naming_a_time_of_day_leaves_the_dose_unknown_and_says_why(
    code: str,
) -> None:
    dose = daily_dose([_by_code(code, 5, "mg")], None, patch=False)
    assert dose.mg_per_day is None
    assert dose.unknown is not None
    assert "time of day" in dose.unknown


def test_an_unread_timing_code_is_listed_as_unreadable_naming_the_resource() -> None:
    request = _dosed(medication(*OXYCODONE), _by_code("PM"))
    request["id"] = "o1"
    reading = read(request)
    assert reading.record is not None
    assert reading.record.medicines.opioids[0].daily_dose_mg is None
    assert reading.unreadable == {
        "medicines.opioids[oxycodone].opioid_dose": ("MedicationRequest/o1",)
    }


@pytest.mark.parametrize(
    "coding",
    [
        {"system": "urn:oid:1.2.3.4", "code": "BID"},  # another system's BID
        {"code": "BID"},  # no system: whose BID is unknown
        {"system": GTS, "code": "bid"},  # the code system is case-sensitive
        {"system": GTS, "code": "Q5H"},  # not a code of the value set
    ],
)
def test_a_timing_code_outside_fhir_s_abbreviations_is_not_read(coding: dict[str, Any]) -> None:
    dosage = {
        "timing": {"code": {"coding": [coding]}},
        "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg", "code": "mg"}}],
    }
    dose = daily_dose([dosage], None, patch=False)
    assert dose.mg_per_day is None
    assert dose.unknown is not None


def test_a_timing_code_text_alone_is_not_read() -> None:
    dosage = {
        "timing": {"code": {"text": "BID"}},
        "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg", "code": "mg"}}],
    }
    assert daily_dose([dosage], None, patch=False).unknown is not None


def test_a_repeat_and_a_code_that_agree_are_read_and_that_disagree_are_unknown() -> None:
    def dosage(repeat: dict[str, Any], code: str) -> dict[str, Any]:
        return {
            "timing": {"repeat": repeat, "code": {"coding": [{"system": GTS, "code": code}]}},
            "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg", "code": "mg"}}],
        }

    twice = {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert daily_dose([dosage(twice, "BID")], None, patch=False).mg_per_day == 10.0
    disagree = daily_dose([dosage(twice, "TID")], None, patch=False)
    assert disagree.mg_per_day is None
    assert disagree.unknown is not None
    assert "disagree" in disagree.unknown
    # A repeat that gives only bounds (no frequency) leaves the code to say how often.
    bounded = {"boundsPeriod": {"start": "2026-06-01"}}
    assert daily_dose([dosage(bounded, "TID")], None, patch=False).mg_per_day == 15.0
