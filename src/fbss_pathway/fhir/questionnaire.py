"""The pathway assessment as a FHIR R4 Questionnaire, and its responses read back.

Much of what the pathway needs has no standard code (adherence, block relief,
examination findings, the SCS work-up). EHRs collect such items with
structured forms, so the assessment ships as a Questionnaire generated from the
record model: one question per record item, ``linkId`` = the record path
(``pain.back_nrs``; ``operations`` and ``treatments`` are repeating groups),
answer types and options from the model. A ``QuestionnaireResponse`` to it in a
bundle is read into the record; an unanswered question stays unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .. import __version__
from ..record import PatientRecord
from .codes import COMPOSITE_ITEMS, DATE_ITEMS, RED_FLAG_ITEMS, SCALAR_ITEMS, base_type
from .entries import RawEntry, validate
from .shapes import QUESTIONNAIRE_RESPONSE, ResponseItem
from .statements import When, when_of

if TYPE_CHECKING:
    from .resources import Chart

__all__ = [
    "ANSWER_SYSTEM",
    "QUESTIONNAIRE_URL",
    "questionnaire",
    "read_response",
    "response_from_record",
]

#: The Questionnaire's canonical URL; responses name it in ``questionnaire``.
QUESTIONNAIRE_URL = "urn:fbss-pathway:questionnaire:assessment"
#: The code system of the answer options (the record's enumerated values).
ANSWER_SYSTEM = "urn:fbss-pathway:answer"
_DONE = frozenset({"completed", "amended"})
_TYPES = {bool: "boolean", int: "integer", float: "decimal", date: "date", str: "string"}
_SKIPPED = frozenset({"patient_id"})  # the Patient resource's id, not a question
#: Answers dated by another answer of the same form (the day the score or screen was
#: done) rather than by ``authored``: a PHQ-9 scored last week and copied into today's
#: form is last week's PHQ-9.
DATED_BY = {
    "psychosocial.phq9": "psychosocial.phq9_date",
    "psychosocial.phq9_item9": "psychosocial.phq9_date",
    "psychosocial.gad7": "psychosocial.gad7_date",
    "psychosocial.psychological_evaluation": "psychosocial.psychological_evaluation_date",
    **dict.fromkeys(RED_FLAG_ITEMS, "red_flags.screened_on"),
}


def _text(description: str | None, base: Any, name: str) -> str:
    """The question as a clinician reads it: the field's description, or its group's."""
    if description:
        return description
    if isinstance(base, type) and issubclass(base, BaseModel) and base.__doc__:
        return base.__doc__.strip().splitlines()[0]
    return name.replace("_", " ").capitalize()


def _coding(value: str) -> dict[str, str]:
    return {"system": ANSWER_SYSTEM, "code": value, "display": value.replace("_", " ").capitalize()}


def _questions(model: type[BaseModel], prefix: str) -> Iterator[dict[str, Any]]:
    for name, info in model.model_fields.items():
        if name in _SKIPPED:
            continue
        base, repeats = base_type(info.annotation)
        link = f"{prefix}{name}"
        question: dict[str, Any] = {"linkId": link, "text": _text(info.description, base, name)}
        if isinstance(base, type) and issubclass(base, BaseModel):
            question["type"] = "group"
            question["item"] = list(_questions(base, f"{link}."))
        elif isinstance(base, type) and issubclass(base, StrEnum):
            question["type"] = "choice"
            question["answerOption"] = [{"valueCoding": _coding(member.value)} for member in base]
        else:
            question["type"] = _TYPES[base]
        if repeats:
            question["repeats"] = True
        if info.is_required():
            question["required"] = True
        yield question


def questionnaire() -> dict[str, Any]:
    """The pathway assessment as a FHIR R4 Questionnaire (SDC style), from the record model."""
    return {
        "resourceType": "Questionnaire",
        "id": "fbss-pathway-assessment",
        "url": QUESTIONNAIRE_URL,
        "version": __version__,
        "name": "FbssPathwayAssessment",
        "title": "FBSS pathway assessment",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Every item the FBSS pathway reads; leave a question unanswered when "
        "the item was not assessed (unknown is not 'no').",
        "item": _with_record_reference(list(_questions(PatientRecord, ""))),
    }


#: The repeating group of the record's opioids (``medicines.opioids``), one use per answer.
OPIOID_GROUP = "medicines.opioids"
#: The question joining a treatment group to the EHR resource that records it.
RECORD_LINK = "treatments.record"


def _with_record_reference(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``treatments`` group gains a question naming the resource it describes.

    Not a record item: it tells the reader which coded resource (a CPT-coded
    Procedure, a MedicationRequest) the group's details belong to, so that the
    two are one treatment whatever their dates say (docs/integrators.md).
    """
    for item in items:
        if item["linkId"] == "treatments":
            item["item"].append(
                {
                    "linkId": RECORD_LINK,
                    "text": "The EHR resource that records this treatment "
                    "(e.g. Procedure/123), when there is one.",
                    "type": "reference",
                }
            )
    return items


def read_response(chart: Chart, entry: RawEntry) -> None:
    """Read a completed response to the pathway assessment into the chart."""
    resource = validate(entry, QUESTIONNAIRE_RESPONSE)
    if (resource.get("questionnaire") or "").split("|")[0] != QUESTIONNAIRE_URL:
        chart.skip(entry, "not a response to the pathway assessment")
        return
    items = resource.get("item") or []
    if resource.get("status") not in _DONE:
        if resource.get("status") not in _UNFINISHED or not (items := _suspicions(items)):
            chart.skip(entry, "status is not completed or amended")
            return
        chart.skip(entry, _SUSPICIONS_ONLY)
    when = when_of(resource.get("authored"))
    dates = {
        link: answered[0]
        for link, answered in _scalar_answers(resource.get("item") or [])
        if link in DATE_ITEMS and answered and isinstance(answered[0], date)
    }
    for item in items:
        _read_item(chart, entry, item, _Dating(when, dates))


#: A form still being filled in, or left part-way: its answers are not the assessment's,
#: but a suspicion it raises counts, as a preliminary Observation's does (docs/fhir.md).
_UNFINISHED = frozenset({"in-progress", "stopped"})
_SUSPICIONS_ONLY = (
    "status is not completed or amended: only its suspicions are read (a red-flag 'yes', "
    "a PHQ-9 item 9 of 1 or more)"
)
_ITEM9 = "psychosocial.phq9_item9"


def _suspicions(items: list[ResponseItem]) -> list[ResponseItem]:
    """The answers of an unfinished form that count: a red flag's "yes", item 9 of 1 or more.

    The section groups that hold them are kept around them, so that they are read (and
    dated by the form's own dates) as a completed form's answers are.
    """
    kept: list[ResponseItem] = []
    for item in items:
        link = item.get("linkId")
        parts = item.get("item")
        if link in RED_FLAG_ITEMS or link == _ITEM9:
            values = _answers(item)
            value = values[0] if values else None
            if value is True or (
                link == _ITEM9
                and isinstance(value, int)
                and not isinstance(value, bool)
                and value >= 1
            ):
                kept.append(item)
        elif parts:
            inner = _suspicions(parts)
            if inner:
                kept.append({**item, "item": inner})
    return kept


class _Dating:
    """When each answer of a form was given: ``authored``, or the date the form gives it."""

    __slots__ = ("authored", "dates")

    def __init__(self, authored: When | None, dates: dict[str, date]) -> None:
        self.authored, self.dates = authored, dates

    def of(self, link: str, value: Any) -> When | None:
        if link in DATE_ITEMS and isinstance(value, date):
            return When(value)
        given = self.dates.get(DATED_BY.get(link, ""))
        return When(given) if given is not None else self.authored


def _scalar_answers(items: list[ResponseItem]) -> Iterator[tuple[str, list[Any]]]:
    """Every question answered outside the repeating groups, with its answers."""
    for item in items:
        if item["linkId"] in ("operations", "treatments"):
            continue
        yield item["linkId"], _answers(item)
        yield from _scalar_answers(item.get("item") or [])


def _answers(item: ResponseItem) -> list[Any]:
    values: list[Any] = []
    for answer in item.get("answer") or []:
        day = answer.get("valueDate")
        given = (
            answer.get("valueBoolean"),
            answer.get("valueInteger"),
            answer.get("valueDecimal"),
            # A full date is a day; a partial one (2024-03) stays text and is refused.
            date.fromisoformat(day) if day is not None and len(day) == 10 else day,
            answer.get("valueString"),
        )
        value = next((value for value in given if value is not None), None)
        if value is not None:
            values.append(value)
            continue
        coding = answer.get("valueCoding")
        if coding is not None and coding.get("code") is not None:
            values.append(coding.get("code"))
    return values


#: Treatment kinds recorded per level (pathway.md 6 reads blocks per level).
_LEVELLED = frozenset({"medial_branch_block", "radiofrequency_denervation"})


def _read_item(chart: Chart, entry: RawEntry, item: ResponseItem, dating: _Dating) -> None:
    link = item["linkId"]
    if link in ("operations", "treatments"):
        subs = item.get("item") or []
        draft = {
            sub["linkId"].removeprefix(f"{link}."): _group_value(sub)
            for sub in subs
            if _answers(sub)
        }
        refers = [
            reference
            for sub in subs
            if sub["linkId"] == RECORD_LINK
            for answer in sub.get("answer") or []
            if (reference := (answer.get("valueReference") or {}).get("reference"))
        ]
        if link == "operations":
            chart.operations.append(
                {**draft, "_entry": entry.number, "_type": entry.type, "_label": entry.label}
            )
        else:
            marks: dict[str, Any] = {"form": True, "refers": tuple(refers)}
            given = draft.get("levels")
            if draft.get("kind") in _LEVELLED and isinstance(given, list) and given:
                # A group that names its levels describes that block, not every one of the day.
                marks["levels"] = tuple(sorted({"".join(str(g).split()).upper() for g in given}))
            chart.treatment(entry, draft, **marks)
        return
    parts = item.get("item")
    if link == OPIOID_GROUP:  # one opioid use, joined with the chart's (opioid_courses)
        use = {
            sub["linkId"].removeprefix(f"{link}."): answered[0]
            for sub in parts or []
            if (answered := _answers(sub))
        }
        if use:
            chart.opioid(entry, use, form=True)
        return
    if link in COMPOSITE_ITEMS:  # a group that is one item: the suicide-risk assessment
        given = {
            sub["linkId"].removeprefix(f"{link}."): answered[0]
            for sub in parts or []
            if (answered := _answers(sub))
        }
        if given:
            day = given.get("date")
            when = When(day) if isinstance(day, date) else dating.authored
            chart.state_composite(entry, link, given, when)
        return
    if parts:  # a section group
        for sub in parts:
            _read_item(chart, entry, sub, dating)
        return
    values = _answers(item)
    if not values:
        return
    if link == "assessment_date":
        if isinstance(values[0], date):
            chart.assessment_dates.append(values[0])
    elif link in SCALAR_ITEMS:
        chart.state(entry, link, values[0], dating.of(link, values[0]))
    else:
        chart.skip(entry, "an answer to a question the assessment does not have")


def _group_value(item: ResponseItem) -> Any:
    values = _answers(item)
    return values if item["linkId"].endswith(".levels") else values[0]


def response_from_record(
    record: PatientRecord, *, subject: str | None = None, authored: str | None = None
) -> dict[str, Any]:
    """A completed QuestionnaireResponse with everything the record knows (for integrators).

    Args:
        record: The record to write.
        subject: The reference to the Patient (``Patient/<id>`` by default).
        authored: When it was completed (the assessment date by default).
    """
    data = record.model_dump(mode="json", exclude_none=True)
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "authored": authored or record.assessment_date.isoformat(),
        "item": _answered(questionnaire()["item"], data),
    }
    if subject or record.patient_id:
        response["subject"] = {"reference": subject or f"Patient/{record.patient_id}"}
    return response


_ANSWER_KEYS = {
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "date": "valueDate",
    "string": "valueString",
}


def _answered(questions: list[dict[str, Any]], data: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for question in questions:
        link = question["linkId"]
        value = data.get(link.rpartition(".")[2])
        if value is None or value == [] or value == {}:
            continue
        if question["type"] == "group":
            groups = value if question.get("repeats") else [value]
            items += [
                {"linkId": link, "item": _answered(question["item"], group)} for group in groups
            ]
            continue
        values = value if question.get("repeats") else [value]
        if question["type"] == "choice":
            answers = [{"valueCoding": _coding(v)} for v in values]
        else:
            answers = [{_ANSWER_KEYS[question["type"]]: v} for v in values]
        items.append({"linkId": link, "answer": answers})
    return items
