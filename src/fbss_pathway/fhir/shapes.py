"""The elements of FHIR R4 resources the reader reads, as strict pydantic models.

Only these elements are validated, with FHIR JSON's own types (a string is a
JSON string, an integer a JSON integer, a decimal a finite JSON number, dates
and dateTimes in FHIR's formats); elements the pathway does not read are not
looked at. This is what makes a large chart cheap to read while a malformed
element that *is* read still gives a ``FhirError`` naming it. (Validating
whole resources with fhir.resources' R4B models cost about 0.1-0.8 ms a
resource, the better part of a CDS Hooks call.)

Field names are FHIR's JSON names, so that an error's location reads as the
element's path (``valueQuantity.value``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "Condition",
    "Medication",
    "MedicationUse",
    "Observation",
    "Patient",
    "Procedure",
    "QuestionnaireResponse",
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


class _Element(BaseModel):
    model_config = ConfigDict(
        extra="ignore", strict=True, allow_inf_nan=False, hide_input_in_errors=True, frozen=True
    )


class Coding(_Element):
    """A code in a code system."""

    system: str | None = None
    code: str | None = None
    display: str | None = None


class CodeableConcept(_Element):
    """Codes for one concept, and its text."""

    coding: list[Coding] | None = None
    text: str | None = None


class Reference(_Element):
    """A reference to another resource."""

    reference: str | None = None


class Period(_Element):
    """A span of time; the reader uses its start."""

    start: FhirDateTime | None = None


class Quantity(_Element):
    """A measured amount."""

    value: float | None = None
    unit: str | None = None


class Extension(_Element):
    """An extension carrying one of the treatment details the record keeps."""

    url: str
    valueDecimal: float | None = None  # noqa: N815 - FHIR's element names
    valueInteger: int | None = None  # noqa: N815
    valueCode: str | None = None  # noqa: N815
    valueBoolean: bool | None = None  # noqa: N815


class Patient(_Element):
    """Patient: its id, birth date and whether they have died."""

    id: str | None = None
    birthDate: FhirDate | None = None  # noqa: N815
    deceasedBoolean: bool | None = None  # noqa: N815
    deceasedDateTime: FhirDateTime | None = None  # noqa: N815

    @property
    def deceased(self) -> bool:
        """Whether the record says the patient has died."""
        return bool(self.deceasedBoolean) or self.deceasedDateTime is not None


class Observation(_Element):
    """Observation: a score or a yes/no item."""

    status: str | None = None
    code: CodeableConcept | None = None
    bodySite: CodeableConcept | None = None  # noqa: N815
    effectiveDateTime: FhirDateTime | None = None  # noqa: N815
    effectivePeriod: Period | None = None  # noqa: N815
    effectiveInstant: FhirDateTime | None = None  # noqa: N815
    issued: FhirDateTime | None = None
    valueBoolean: bool | None = None  # noqa: N815
    valueInteger: int | None = None  # noqa: N815
    valueString: str | None = None  # noqa: N815
    valueQuantity: Quantity | None = None  # noqa: N815
    valueCodeableConcept: CodeableConcept | None = None  # noqa: N815


class Condition(_Element):
    """Condition: a finding or a red flag, with its statuses."""

    code: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None  # noqa: N815
    clinicalStatus: CodeableConcept | None = None  # noqa: N815
    recordedDate: FhirDateTime | None = None  # noqa: N815
    onsetDateTime: FhirDateTime | None = None  # noqa: N815
    onsetPeriod: Period | None = None  # noqa: N815
    abatementDateTime: FhirDateTime | None = None  # noqa: N815


class Procedure(_Element):
    """Procedure: an operation or a treatment."""

    status: str | None = None
    code: CodeableConcept | None = None
    performedDateTime: FhirDateTime | None = None  # noqa: N815
    performedPeriod: Period | None = None  # noqa: N815
    bodySite: list[CodeableConcept] | None = None  # noqa: N815
    extension: list[Extension] | None = None


class Medication(_Element):
    """Medication: the product a statement or request refers to."""

    id: str | None = None
    code: CodeableConcept | None = None


class MedicationUse(_Element):
    """MedicationStatement or MedicationRequest: an analgesic taken or prescribed."""

    status: str | None = None
    doNotPerform: bool | None = None  # noqa: N815
    medicationCodeableConcept: CodeableConcept | None = None  # noqa: N815
    medicationReference: Reference | None = None  # noqa: N815
    contained: list[Medication] | None = None
    effectiveDateTime: FhirDateTime | None = None  # noqa: N815
    effectivePeriod: Period | None = None  # noqa: N815
    authoredOn: FhirDateTime | None = None  # noqa: N815
    extension: list[Extension] | None = None


class Answer(_Element):
    """One answer of a questionnaire item."""

    valueBoolean: bool | None = None  # noqa: N815
    valueInteger: int | None = None  # noqa: N815
    valueDecimal: float | None = None  # noqa: N815
    valueDate: FhirDate | None = None  # noqa: N815
    valueString: str | None = None  # noqa: N815
    valueCoding: Coding | None = None  # noqa: N815


class ResponseItem(_Element):
    """An answered question, or a group of them."""

    linkId: str  # noqa: N815
    answer: list[Answer] | None = None
    item: list[ResponseItem] | None = None


class QuestionnaireResponse(_Element):
    """QuestionnaireResponse: the pathway assessment filled in."""

    questionnaire: str | None = None
    status: str | None = None
    authored: FhirDateTime | None = None
    item: list[ResponseItem] | None = None


def model_for(resource_type: str) -> type[_Element]:
    """The shape a resource type is read with."""
    return _MODELS[resource_type]


_MODELS: dict[str, type[_Element]] = {
    "Patient": Patient,
    "Observation": Observation,
    "Condition": Condition,
    "Procedure": Procedure,
    "MedicationStatement": MedicationUse,
    "MedicationRequest": MedicationUse,
    "Medication": Medication,
    "QuestionnaireResponse": QuestionnaireResponse,
}
