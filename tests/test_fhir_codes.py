"""The packaged codes: every one names its source, and the ICD-10-CM ones are CMS's."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from fbss_pathway.fhir import CodeMap

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _cms() -> Any:
    """CMS's ICD-10-CM tabular list, as the simple-icd-10-cm package ships it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its importlib.resources calls
        import simple_icd_10_cm as cms  # type: ignore[import-untyped]

        cms.is_valid_item("M96.1")  # loads the data under this filter
    return cms


@pytest.mark.parametrize(
    "entry",
    [e for e in CodeMap.default().entries if e.system == ICD10CM],
    ids=lambda e: e.code,
)
def test_every_icd10cm_code_is_in_the_cms_list_with_the_meaning_its_source_gives(
    entry: Any,
) -> None:
    cms = _cms()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert cms.is_valid_item(entry.code), entry.code
        description = cms.get_description(entry.code)
    assert description in entry.source
    if entry.prefix:  # a prefix names a category: every code under it is meant
        assert not cms.is_leaf(entry.code)


def test_every_packaged_code_names_its_source_and_the_systems_are_the_standard_ones() -> None:
    entries = CodeMap.default().entries
    assert all(entry.source for entry in entries)
    assert {entry.system for entry in entries} == {
        "http://loinc.org",
        "http://hl7.org/fhir/sid/icd-10",
        ICD10CM,
        "http://snomed.info/sct",
        "http://www.ama-assn.org/go/cpt",
        "http://www.whocc.no/atc",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
    }


@pytest.mark.parametrize(
    ("code", "display", "opioid"),
    [
        ("1049221", "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet", True),
        ("1310197", "Acetaminophen 300 MG / HYDROcodone Bitartrate 5 MG [Vicodin]", True),
        ("861467", "Meperidine Hydrochloride 50 MG Oral Tablet", True),
        ("7804", None, True),  # the ingredient itself
        ("313782", "Acetaminophen 325 MG Oral Tablet", False),
        ("849574", "Naproxen sodium 220 MG Oral Tablet", False),
        ("310965", "Ibuprofen 200 MG Oral Tablet", False),
    ],
)
def test_rxnorm_clinical_drugs_are_read_by_their_ingredients(
    code: str, display: str | None, opioid: bool
) -> None:
    found = CodeMap.default().find(
        "medication", "http://www.nlm.nih.gov/research/umls/rxnorm", code, display
    )
    assert found
    assert any(entry.opioid for entry in found) is opioid


@pytest.mark.parametrize(
    "display",
    [
        "Aspirin 81 MG Oral Tablet",  # low-dose aspirin is not an analgesic trial
        "Naloxone Hydrochloride 4 MG/ACTUAT Nasal Spray",
        "Amoxicillin 250 MG Oral Capsule",
        "Metformin hydrochloride 500 MG Oral Tablet",
    ],
)
def test_other_drugs_are_not_analgesics(display: str) -> None:
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert CodeMap.default().find("medication", rxnorm, "0", display) == ()


def test_icd10_codes_match_with_or_without_the_dot() -> None:
    codes = CodeMap.default()
    assert codes.find("condition", ICD10CM, "G834") == codes.find("condition", ICD10CM, "G83.4")
    assert [e.item for e in codes.find("condition", ICD10CM, "s32.001a")] == [
        "red_flags.suspected_structural_failure"
    ]


def test_what_the_mapping_remembers_of_codings_it_was_asked_is_bounded() -> None:
    # Codings come from outside: a stream of distinct or huge ones must not grow memory.
    codes = CodeMap.default()
    rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm"
    for number in range(200):
        codes.find("medication", rxnorm, str(number), "x" * 2_000)  # long: never kept
    assert len(codes._found) == 0
    for number in range(10_000):
        assert codes.find("observation", "http://loinc.org", f"0000-{number}") == ()
    assert 0 < len(codes._found) <= 4096
    found = codes.find("medication", rxnorm, "0", "Ibuprofen 200 MG Oral Tablet")
    assert found == codes.find("medication", rxnorm, "0", "Ibuprofen 200 MG Oral Tablet")
    assert found  # remembered answers are the same answers
