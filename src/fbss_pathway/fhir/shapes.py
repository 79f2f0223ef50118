"""The elements of FHIR R4 resources the reader reads, as strict typed dictionaries.

Only these elements are validated, with FHIR JSON's own types (a string is a
JSON string, an integer a JSON integer, a decimal a finite JSON number, dates
and dateTimes in FHIR's formats); elements the pathway does not read are not
looked at, and are not in the result. This is what makes a large chart cheap to
read while a malformed element that *is* read still gives a ``FhirError``
naming it. (Validating whole resources with fhir.resources' R4B models cost
about 0.1-0.8 ms a resource, the better part of a CDS Hooks call; the same
elements as pydantic models instead of typed dictionaries cost about twice as
much again, since every nested element became an object.)

Keys are FHIR's JSON names, so that an error's location reads as the element's
path (``valueQuantity.value``). An element the resource leaves out is absent
from the dictionary; one given as ``null`` is None: read both with ``.get``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Required

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic reads only this one on Python < 3.12

__all__ = [
    "CONDITION",
    "MEDICATION",
    "MEDICATION_USE",
    "OBSERVATION",
    "PATIENT",
    "PROCEDURE",
    "QUESTIONNAIRE_RESPONSE",
    "CodeableConcept",
    "Coding",
    "Condition",
    "Medication",
    "MedicationUse",
    "Observation",
    "Patient",
    "Period",
    "Procedure",
    "QuestionnaireResponse",
    "Reference",
    "ResponseItem",
    "codings_of",
    "first_code",
]

# FHIR R4 date and dateTime formats (datatypes page): year, year-month, full date, with time.
_DATE = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"
_DATE_TIME = (
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$"
)


def _real_day(value: str) -> str:
    """A full date must be a real day (2026-02-30 is not); partial dates stay as they are."""
    if len(value) >= 10:
        try:
            date.fromisoformat(value[:10])
        except ValueError:
            raise ValueError("not a real date") from None
    return value


FhirDate = Annotated[str, Field(pattern=_DATE), AfterValidator(_real_day)]
FhirDateTime = Annotated[str, Field(pattern=_DATE_TIME), AfterValidator(_real_day)]


_STRICT = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, hide_input_in_errors=True)


@with_config(_STRICT)
class Coding(TypedDict, total=False):
    """A code in a code system."""

    system: str | None
    code: str | None
    display: str | None


@with_config(_STRICT)
class CodeableConcept(TypedDict, total=False):
    """Codes for one concept, and its text."""

    coding: list[Coding] | None
    text: str | None


@with_config(_STRICT)
class Reference(TypedDict, total=False):
    """A reference to another resource."""

    reference: str | None


@with_config(_STRICT)
class Period(TypedDict, total=False):
    """A span of time; the reader uses its start."""

    start: FhirDateTime | None


@with_config(_STRICT)
class Quantity(TypedDict, total=False):
    """A measured amount."""

    value: float | None
    unit: str | None


@with_config(_STRICT)
class Extension(TypedDict, total=False):
    """An extension carrying one of the treatment details the record keeps."""

    url: Required[str]
    valueDecimal: float | None
    valueInteger: int | None
    valueCode: str | None
    valueBoolean: bool | None


@with_config(_STRICT)
class Patient(TypedDict, total=False):
    """Patient: its id, birth date and whether they have died."""

    id: str | None
    birthDate: FhirDate | None
    deceasedBoolean: bool | None
    deceasedDateTime: FhirDateTime | None


@with_config(_STRICT)
class Observation(TypedDict, total=False):
    """Observation: a score or a yes/no item."""

    status: str | None
    code: CodeableConcept | None
    bodySite: CodeableConcept | None
    effectiveDateTime: FhirDateTime | None
    effectivePeriod: Period | None
    effectiveInstant: FhirDateTime | None
    issued: FhirDateTime | None
    valueBoolean: bool | None
    valueInteger: int | None
    valueString: str | None
    valueDateTime: FhirDateTime | None
    valueQuantity: Quantity | None
    valueCodeableConcept: CodeableConcept | None


@with_config(_STRICT)
class Condition(TypedDict, total=False):
    """Condition: a finding or a red flag, with its statuses."""

    code: CodeableConcept | None
    verificationStatus: CodeableConcept | None
    clinicalStatus: CodeableConcept | None
    recordedDate: FhirDateTime | None
    onsetDateTime: FhirDateTime | None
    onsetPeriod: Period | None
    abatementDateTime: FhirDateTime | None


@with_config(_STRICT)
class Procedure(TypedDict, total=False):
    """Procedure: an operation or a treatment."""

    status: str | None
    code: CodeableConcept | None
    performedDateTime: FhirDateTime | None
    performedPeriod: Period | None
    bodySite: list[CodeableConcept] | None
    extension: list[Extension] | None


@with_config(_STRICT)
class Medication(TypedDict, total=False):
    """Medication: the product a statement or request refers to."""

    id: str | None
    code: CodeableConcept | None


@with_config(_STRICT)
class MedicationUse(TypedDict, total=False):
    """MedicationStatement or MedicationRequest: an analgesic taken or prescribed."""

    status: str | None
    doNotPerform: bool | None
    medicationCodeableConcept: CodeableConcept | None
    medicationReference: Reference | None
    contained: list[Medication] | None
    effectiveDateTime: FhirDateTime | None
    effectivePeriod: Period | None
    authoredOn: FhirDateTime | None
    extension: list[Extension] | None


@with_config(_STRICT)
class Answer(TypedDict, total=False):
    """One answer of a questionnaire item."""

    valueBoolean: bool | None
    valueInteger: int | None
    valueDecimal: float | None
    valueDate: FhirDate | None
    valueString: str | None
    valueCoding: Coding | None
    valueReference: Reference | None


@with_config(_STRICT)
class ResponseItem(TypedDict, total=False):
    """An answered question, or a group of them."""

    linkId: Required[str]
    answer: list[Answer] | None
    item: list[ResponseItem] | None


@with_config(_STRICT)
class QuestionnaireResponse(TypedDict, total=False):
    """QuestionnaireResponse: the pathway assessment filled in."""

    questionnaire: str | None
    status: str | None
    authored: FhirDateTime | None
    item: list[ResponseItem] | None


#: The validators, one per shape (built once: building one costs milliseconds).
PATIENT: TypeAdapter[Patient] = TypeAdapter(Patient)
OBSERVATION: TypeAdapter[Observation] = TypeAdapter(Observation)
CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)
PROCEDURE: TypeAdapter[Procedure] = TypeAdapter(Procedure)
MEDICATION: TypeAdapter[Medication] = TypeAdapter(Medication)
MEDICATION_USE: TypeAdapter[MedicationUse] = TypeAdapter(MedicationUse)
QUESTIONNAIRE_RESPONSE: TypeAdapter[QuestionnaireResponse] = TypeAdapter(QuestionnaireResponse)


def first_code(concept: CodeableConcept | None) -> str | None:
    """The code of a concept's first coding (how statuses are given), or None."""
    codings = (concept.get("coding") if concept else None) or []
    return codings[0].get("code") if codings else None


def codings_of(concept: CodeableConcept | None) -> list[Coding]:
    """A concept's codings (none when it or its list is absent or null)."""
    return (concept.get("coding") if concept else None) or []
