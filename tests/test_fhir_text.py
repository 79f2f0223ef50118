"""A bundle's JSON text reads exactly as the same bundle parsed: resources, errors and all.

The reader decodes text into entries whose resources stay bytes until read
(``fhir/bundle_text.py``); these tests hold it to the reading of the parsed
bundle, above all in the entries it never builds.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fbss_pathway.fhir import BundleReading, FhirError, read_bundle
from fbss_pathway.fhir import entries as entries_module

from .fhir_builders import bundle, medication, observation, operation
from .test_fhir_robustness import BUNDLES, json_values

SECRET = "SECRET-4711"
ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "enc-1",
    "status": "finished",
    "subject": {"reference": "Patient/p1"},
    "class": {"code": "AMB"},
}
CLAIM = {
    "resourceType": "Claim",
    "id": "claim-1",
    "patient": {"reference": "Patient/p1"},
    "item": [{"sequence": 1, "net": {"value": 1.5}, "note": SECRET}],
}


def _outcome(data: Any, **options: Any) -> tuple[str, Any]:
    """The reading, or the error's type and message."""
    try:
        return ("reading", read_bundle(data, **options))
    except Exception as error:  # the error itself is what is compared
        return ("error", (type(error).__name__, str(error)))


def _agree(data: Mapping[str, Any] | str, **options: Any) -> tuple[str, Any]:
    """Read as bytes, as str and parsed: the same outcome each way, which is returned."""
    text = data if isinstance(data, str) else json.dumps(data)
    parsed = _outcome(json.loads(text), **options)
    assert _outcome(text, **options) == parsed
    assert _outcome(text.encode(), **options) == parsed
    return parsed


def _chart(*resources: Any) -> dict[str, Any]:
    """The usual small chart (a Patient, an operation, a pain score) and these entries."""
    data = bundle(observation("72514-3", {"valueInteger": 6}, site="37822005"))
    data["entry"] += [{"resource": resource} for resource in resources]
    return data


def _ignored(outcome: tuple[str, Any]) -> list[tuple[int, str, str, str]]:
    kind, reading = outcome
    assert kind == "reading", reading
    return [(i.entry, i.resource_type, i.reason, i.resource) for i in reading.ignored]


# --- Entries the reader does not read ---------------------------------------------------------


def _built_types(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The types of the resources built from text from now on (in the list returned)."""
    built: list[str] = []
    build = entries_module._built

    def spy(raw: Any) -> Mapping[str, Any]:
        resource = build(raw)
        built.append(resource["resourceType"])
        return resource

    monkeypatch.setattr(entries_module, "_built", spy)
    return built


def test_unread_types_are_listed_alike_and_never_built_from_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _chart(ENCOUNTER, CLAIM, {"resourceType": "ExplanationOfBenefit", "id": "e"})
    text = json.dumps(data)
    built = _built_types(monkeypatch)
    read_bundle(text)
    assert sorted(built) == ["Observation", "Patient", "Procedure"]
    monkeypatch.undo()
    unread = "resource type not read by the pathway"
    assert _ignored(_agree(text))[-3:] == [
        (3, "Encounter", unread, "Encounter/enc-1"),
        (4, "Claim", unread, "Claim/claim-1"),
        (5, "ExplanationOfBenefit", unread, "ExplanationOfBenefit/e"),
    ]


def test_an_observation_the_mapping_does_not_know_is_never_built_from_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heart_rate = observation("8867-4", {"valueQuantity": {"value": 72}})
    text = json.dumps(bundle(heart_rate, with_operation=False))
    built = _built_types(monkeypatch)
    read_bundle(text)
    assert built == ["Patient"]


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param({"resourceType": "claim"}, id="not-a-type-name"),
        pytest.param({"resourceType": "Claim", "id": 7}, id="id-number"),
        pytest.param({"resourceType": "Claim", "id": ""}, id="id-empty"),
        pytest.param({"resourceType": "Claim", "id": "x" * 65}, id="id-long"),
        pytest.param({"resourceType": "Claim", "id": {"a": [SECRET]}}, id="id-object"),
        pytest.param({"resourceType": "Claim", "subject": SECRET}, id="subject-string"),
        pytest.param({"resourceType": "Claim", "code": {"coding": SECRET}}, id="code-string"),
        pytest.param({"resourceType": "Encounter", "meta": 5, "id": "e"}, id="meta-number"),
        pytest.param({"resourceType": None}, id="type-null"),
        pytest.param({"resourceType": 12}, id="type-number"),
        pytest.param({"resourceType": ""}, id="type-empty"),
        pytest.param({}, id="no-type"),
        pytest.param([SECRET], id="resource-list"),
        pytest.param(SECRET, id="resource-string"),
        pytest.param(5, id="resource-number"),
        pytest.param(None, id="resource-null"),
    ],
)
def test_a_malformed_unread_entry_reads_as_in_the_parsed_bundle(resource: Any) -> None:
    data = _chart()
    data["entry"].insert(1, {"fullUrl": "urn:uuid:1", "resource": resource})
    outcome = _agree(data)
    assert SECRET not in str(outcome[1])


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(7, id="entry-number"),
        pytest.param([], id="entry-list"),
        pytest.param({"fullUrl": 5, "resource": CLAIM}, id="full-url-number"),
        pytest.param({"request": {"method": "GET"}}, id="no-resource"),
        pytest.param({"fullUrl": "urn:uuid:" + "x" * 300, "resource": {"resourceType": "A"}}),
    ],
)
def test_a_malformed_entry_reads_as_in_the_parsed_bundle(entry: Any) -> None:
    data = _chart()
    data["entry"].append(entry)
    _agree(data)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(entry=5), id="entry-not-array"),
        pytest.param(lambda d: d.update(entry=None), id="entry-null"),
        pytest.param(lambda d: d.update(resourceType="Claim"), id="not-a-bundle"),
        pytest.param(lambda d: d.update(timestamp=SECRET + "xxxxx"), id="bad-timestamp"),
        pytest.param(lambda d: d.update(timestamp=5), id="timestamp-number"),
        pytest.param(lambda d: d.pop("timestamp"), id="no-timestamp"),
    ],
)
def test_a_malformed_bundle_reads_as_the_parsed_bundle(change: Any) -> None:
    data = _chart(CLAIM)
    change(data)
    _agree(data)


def test_copies_of_an_unread_resource_are_settled_alike() -> None:
    different = {**ENCOUNTER, "status": "cancelled"}
    older = {**ENCOUNTER, "meta": {"versionId": "1"}}
    newer = {**ENCOUNTER, "meta": {"versionId": "2"}, "status": "cancelled"}
    same = _agree(_chart(ENCOUNTER, CLAIM, ENCOUNTER))
    again = "the same resource again: read once"
    assert (5, "Encounter", again, "Encounter/enc-1") in _ignored(same)
    conflicting = _agree(_chart(ENCOUNTER, different))
    assert [c.item for c in conflicting[1].conflicts] == ["Encounter resource"]
    versions = _agree(_chart(newer, older))
    earlier = "an earlier version of a resource also in the chart"
    assert (4, "Encounter", earlier, "Encounter/enc-1") in _ignored(versions)


def test_without_a_patient_the_patient_is_found_in_unread_subjects_alike() -> None:
    data = _chart(ENCOUNTER)
    del data["entry"][0]  # the Patient
    assert _agree(data)[0] == "reading"
    data["entry"].append({"resource": {**ENCOUNTER, "subject": {"reference": "Patient/p2"}}})
    assert "more than one patient" in _agree(data)[1][1]
    assert _agree(data, patient_id="p1")[0] == "reading"


def test_a_patient_whose_id_is_null_is_refused_alike() -> None:
    data = _chart(CLAIM)
    data["entry"][0]["resource"]["id"] = None
    assert _agree(data)[1] == ("FhirError", "entry[0] (Patient) id: must be a string")


# --- Text msgspec and Python read differently ------------------------------------------------


def _text_with(piece: str, resource: dict[str, Any] = CLAIM) -> str:
    """The chart's text with ``piece`` as the value of an element ``x`` of ``resource``."""
    text = json.dumps(_chart(resource))
    at = text.rindex(f'"resourceType": "{resource["resourceType"]}"')  # the last entry's
    return f'{text[:at]}"x": {piece}, {text[at:]}'


@pytest.mark.parametrize(
    "piece",
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        '"\\ud800"',
        '"\\udc00 and more"',
        "[" * 200 + "]" * 200,
    ],
)
@pytest.mark.parametrize("kind", ["Claim", "Observation"])
def test_text_msgspec_refuses_reads_as_python_reads_it(piece: str, kind: str) -> None:
    resource = (
        CLAIM if kind == "Claim" else observation("72514-3", {"valueInteger": 3}, site="279039007")
    )
    outcome = _agree(_text_with(piece, resource))
    assert outcome[0] == "reading"


@pytest.mark.parametrize("element", ["id", "code", "subject", "medicationCodeableConcept"])
def test_an_element_read_before_the_resource_msgspec_refuses_reads_alike(element: str) -> None:
    text = json.dumps(_chart(medication("1049621", "oxyCODONE 5 MG Oral Tablet"), CLAIM))
    key = f'"{element}": '
    assert key in text
    _agree(text.replace(key, key + "1e400, " + key))  # the first of a key given twice


def test_a_byte_order_mark_and_utf16_read_as_python_reads_them() -> None:
    text = json.dumps(_chart(CLAIM))
    parsed = _outcome(json.loads(text))
    assert _outcome(b"\xef\xbb\xbf" + text.encode()) == parsed
    assert _outcome(text.encode("utf-16")) == parsed


def test_an_integer_too_long_for_python_in_an_unread_resource_is_not_valid_json() -> None:
    digits = sys.get_int_max_str_digits() or 4300
    with pytest.raises(FhirError, match="not valid JSON"):
        read_bundle(_text_with("9" * (digits + 1)))
    with pytest.raises(FhirError, match="not valid JSON"):
        read_bundle(_text_with("-" + "9" * (digits + 1)).encode())


def test_long_runs_of_digits_python_reads_are_read() -> None:
    digits = sys.get_int_max_str_digits() or 4300
    for piece in (f'"{"7" * digits}"', "9" * digits, "1" * (digits + 5) + ".5"):
        assert _agree(_text_with(piece))[0] == "reading"


def test_bytes_not_utf8_in_an_unread_resource_are_not_valid_json() -> None:
    assert _agree(_text_with('"caf\u00e9 \u00e9"'))[0] == "reading"  # UTF-8 when encoded
    for broken in (b'"\xff"', b'"\xc0\xaf"', b'"\xed\xa0\x80"'):
        data = _text_with("0").encode().replace(b'"x": 0', b'"x": ' + broken)
        assert _outcome(data) == _outcome_of_python(data)


def _outcome_of_python(data: bytes) -> tuple[str, Any]:
    """What reading gives when the text is parsed by Python's reader first."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return ("error", ("FhirError", "the bundle is not valid JSON"))
    return _outcome(parsed)


def test_keys_given_twice_or_escaped_read_as_python_reads_them() -> None:
    text = json.dumps(_chart(CLAIM, ENCOUNTER))
    twice = text.replace(
        '"resourceType": "Claim"', '"resourceType": "Observation", "resourceType": "Claim"'
    )
    assert _ignored(_agree(twice))[-2][1] == "Claim"
    twice = text.replace('"id": "enc-1"', '"id": "enc-1", "id": "enc-2"')
    assert _ignored(_agree(twice))[-1][3] == "Encounter/enc-2"
    escaped = text.replace('"resourceType"', '"resource\\u0054ype"').replace('"id"', '"i\\u0064"')
    assert _agree(escaped) == _agree(text)
    whole = text.replace('"resourceType": "Bundle"', '"entry": [], "resourceType": "Bundle"')
    assert _agree(whole) == _agree(text)


@pytest.mark.parametrize(
    "text",
    [
        *("", " ", "[]", "5", "null", "{}"),
        *('{"resourceType": "Bundle"} x', '{"resourceType": "Bundle"'),
        "[" * 5000 + "]" * 5000,
    ],
)
def test_text_that_is_no_bundle_is_refused_alike(text: str) -> None:
    with pytest.raises(FhirError) as caught:
        read_bundle(text)
    with pytest.raises(FhirError) as again:
        read_bundle(text.encode())
    assert str(caught.value) == str(again.value)


# --- Any bundle ---------------------------------------------------------------------------------

UNREAD = [ENCOUNTER, CLAIM, {"resourceType": "ExplanationOfBenefit", "id": "eob"}]


@st.composite
def charts(draw: st.DrawFn) -> dict[str, Any]:
    """A test chart with unread resources added, some entries changed anywhere."""
    data: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BUNDLES)))
    listed = data["entry"]
    for resource in draw(st.lists(st.sampled_from(UNREAD), max_size=4)):
        listed.insert(draw(st.integers(0, len(listed))), {"resource": copy.deepcopy(resource)})
    for _ in range(draw(st.integers(0, 3))):
        target = draw(st.sampled_from(listed))
        if not isinstance(target, dict) or not isinstance(target.get("resource"), dict):
            continue
        resource = target["resource"]
        key = draw(st.sampled_from(["resourceType", "id", "subject", "code", "meta", "x"]))
        resource[key] = draw(json_values | st.sampled_from(["Claim", "Patient", "Encounter"]))
    if draw(st.booleans()):
        listed.append(copy.deepcopy(draw(st.sampled_from(listed))))
    return data


@given(charts(), st.sampled_from([None, "p1", "p2"]))
def test_any_chart_reads_from_text_as_from_the_parsed_bundle(
    data: dict[str, Any], patient: str | None
) -> None:
    kind, outcome = _agree(data, patient_id=patient)
    assert kind == "error" or isinstance(outcome, BundleReading)


def test_an_operation_chart_reads_the_same_as_before() -> None:
    """The text path reads a record, not just the same errors."""
    data = _chart(CLAIM, ENCOUNTER, operation("22612", date="2021-05-20"))
    kind, reading = _agree(data)
    assert kind == "reading"
    assert reading.record is not None
    assert reading.record.pain.back_nrs == 6
