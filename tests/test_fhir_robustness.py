"""Whatever arrives, the reader answers with a reading or a FhirError that leaks no value."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from fbss_pathway import PatientRecord
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import BundleReading, FhirError, bundle_from_record, read_bundle

from .fhir_builders import bundle, condition, flag, medication, observation, operation

SECRET = "SECRET-4711"


def _examples() -> list[dict[str, Any]]:
    records = [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]
    return [bundle_from_record(record) for record in records]


def _busy() -> dict[str, Any]:
    """A chart whose entries disagree, in every way the reader settles."""
    return bundle(
        condition("G83.4", recorded="2026-08-01"),
        flag("red_flags.cauda_equina_signs", False, when="2026-09-01"),
        condition("M47.816", recorded="2026-01-01"),
        condition("M47.816", verification="refuted", recorded="2026-01-01"),
        observation("44261-6", {"valueInteger": 12}, when="2026-03-01"),
        observation("44261-6", {"valueInteger": 14}, when="2026-03-01"),
        observation("44261-6", {"valueInteger": 3}, when=None),
        observation("72514-3", {"valueInteger": 7}, site="37822005", when="2026-05-01"),
        observation("72514-3", {"valueInteger": 4}, site="37822005", when="2026-08-01"),
        operation("22612", date="2021-06-01"),
        operation("63047", date="2023-02-01"),
        medication("1049221", "Acetaminophen 325 MG / oxyCODONE Hydrochloride 5 MG Oral Tablet"),
        medication("310965", "Ibuprofen 200 MG Oral Tablet", kind="MedicationStatement"),
    )


BUNDLES = [*_examples(), _busy()]


def _settled(reading: BundleReading, data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Conflicts by item and resolution, naming the resources rather than their positions."""
    entries = data["entry"]
    return sorted(
        (c.item, c.resolution, sorted(json.dumps(entries[i], sort_keys=True) for i in c.entries))
        for c in reading.conflicts
    )


@given(st.sampled_from(range(len(BUNDLES))), st.randoms(use_true_random=False))
def test_the_reading_never_depends_on_the_order_of_entries(index: int, random: Any) -> None:
    data = BUNDLES[index]
    shuffled = copy.deepcopy(data)
    random.shuffle(shuffled["entry"])
    before, after = read_bundle(data), read_bundle(shuffled)
    assert after.record == before.record
    assert after.not_applicable == before.not_applicable
    assert _settled(after, shuffled) == _settled(before, data)


def test_the_busy_chart_is_settled_as_the_rules_say() -> None:
    reading = read_bundle(_busy())
    record = reading.record
    assert record is not None
    assert record.red_flags.cauda_equina_signs is True
    assert record.findings.facet_arthropathy is None
    assert record.psychosocial.phq9 is None
    assert record.pain.back_nrs == 4
    assert [op.kind for op in record.operations] == [  # by date
        "fusion",
        "laminectomy",
        "decompression_discectomy",
    ]
    assert {t.opioid for t in record.treatments} == {True, False}
    assert [c.item for c in reading.conflicts] == [
        "findings.facet_arthropathy",
        "psychosocial.phq9",
        "red_flags.cauda_equina_signs",
    ]


# --- Malformed input ---------------------------------------------------------------------


def _with(change: Any) -> dict[str, Any]:
    data = bundle(observation("44261-6", {"valueInteger": 5}))
    change(data)
    return data


def _deep(depth: int) -> dict[str, Any]:
    nested: dict[str, Any] = {"url": "urn:x", "valueString": SECRET}
    for _ in range(depth):
        nested = {"url": "urn:x", "extension": [nested]}
    return nested


def _deep_response(depth: int) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": SECRET}
    for _ in range(depth):
        item = {"linkId": "pain", "item": [item]}
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "urn:fbss-pathway:questionnaire:assessment",
        "status": "completed",
        "item": [item],
    }


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            _with(lambda d: d.update(entry=5)), "Bundle entry: must be an array", id="entry-5"
        ),
        pytest.param(
            _with(lambda d: d["entry"].append(7)), "entry[3]: must be an object", id="entry-int"
        ),
        pytest.param(
            _with(lambda d: d["entry"][2]["resource"].update(resourceType=None)),
            "entry[2] resourceType",
            id="type-null",
        ),
        pytest.param(
            _with(lambda d: d["entry"][2].update(resource=[SECRET])),
            "entry[2] resource: must be an object",
            id="resource-list",
        ),
        pytest.param(
            _with(lambda d: d["entry"][2]["resource"].update(valueInteger=SECRET)),
            "entry[2] (Observation) valueInteger",
            id="bad-value",
        ),
        pytest.param(
            _with(lambda d: d["entry"].append({"resource": _deep_response(3000)})),
            "entry[3] (QuestionnaireResponse) item.0.item.0",
            id="deep-response",
        ),
        pytest.param(
            _with(lambda d: d["entry"][2]["resource"]["code"].update(coding=SECRET)),
            "entry[2] (Observation) code.coding",
            id="coding-string",
        ),
        pytest.param(
            _with(lambda d: d["entry"][1]["resource"].update(performedDateTime=SECRET)),
            "entry[1] (Procedure) performedDateTime",
            id="bad-date",
        ),
        pytest.param(
            _with(lambda d: d.update(timestamp=SECRET + "xxxxxx")),
            "Bundle timestamp",
            id="bad-timestamp",
        ),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deep-json"),
        pytest.param(
            '{"resourceType": "Bundle", "n": ' + "9" * 5000 + "}", "not valid JSON", id="huge-int"
        ),
        pytest.param(b'{"resourceType": "Bundle", "x": "\xff"}', "not valid JSON", id="not-utf8"),
    ],
)
def test_malformed_bundles_raise_fhir_error_naming_the_place(data: Any, expected: str) -> None:
    with pytest.raises(FhirError) as caught:
        read_bundle(data)
    assert expected in str(caught.value)
    assert SECRET not in str(caught.value)


def test_deep_nesting_in_an_element_the_pathway_does_not_read_is_never_walked() -> None:
    deep = bundle({**observation("44261-6", {"valueInteger": 5}), "extension": [_deep(100_000)]})
    reading = read_bundle(deep)
    assert reading.record is not None
    assert reading.record.psychosocial.phq9 == 5


@pytest.mark.parametrize("kind", ["MedicinalProduct", "Foo", "Claim"])
def test_unknown_and_unread_resource_types_are_listed_not_validated(kind: str) -> None:
    data = bundle({"resourceType": kind, "anything": {"at": [SECRET]}})
    reading = read_bundle(data)
    assert [(i.resource_type, i.reason) for i in reading.ignored] == [
        (kind, "resource type not read by the pathway")
    ]


def test_a_null_code_is_a_resource_the_mapping_does_not_know() -> None:
    reading = read_bundle(bundle({**observation("44261-6", {"valueInteger": 5}), "code": None}))
    assert [i.reason for i in reading.ignored] == ["code not in the mapping"]


# --- Fuzz: mutated bundles ----------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False)
    | st.sampled_from([SECRET, "", "2026-13-45", "Patient/p1", "final", "completed", "G83.4"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += _paths(child, (*prefix, index))
    return paths


@st.composite
def mutated_bundles(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BUNDLES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return data


@given(mutated_bundles())
def test_a_mutated_bundle_gives_a_reading_or_a_clear_error(data: dict[str, Any]) -> None:
    outcome: BundleReading | Exception
    try:
        outcome = read_bundle(data)
    except (FhirError, ValidationError) as error:  # ValidationError: values that contradict
        outcome = error
    if isinstance(outcome, BundleReading):
        assert (outcome.record is None) == bool(outcome.not_applicable)
    else:
        assert SECRET not in str(outcome)
