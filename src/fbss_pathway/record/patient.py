"""The patient record as a whole, and the checks that span its parts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Self, TypeVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from fbss_pathway.record.clinical import (
    Examination,
    Findings,
    Pain,
    RedFlags,
    ScsWorkup,
    SpineOperation,
    SurgicalOpinion,
)
from fbss_pathway.record.medicines import Medicines
from fbss_pathway.record.psychosocial import Psychosocial
from fbss_pathway.record.scales import NUMBER, Flag, Percent, RecordPart, item, without_values
from fbss_pathway.record.treatments import Treatment, TreatmentKind

_T = TypeVar("_T")


def _refusing_values(validate: Callable[[], _T]) -> _T:
    """``validate()``, its validation error re-raised holding no value (:func:`without_values`)."""
    try:
        return validate()
    except ValidationError as error:
        raise without_values(error) from None


class PatientRecord(RecordPart):
    """A patient after lumbar spine surgery, as the pathway reads them.

    ``assessment_date`` and at least one operation are required: the pathway is
    for patients who have had spine surgery, and its time criteria are measured
    to the assessment. Everything else may be left unknown.
    """

    patient_id: str | None = Field(
        default=None,
        max_length=128,
        description="Opaque identifier, echoed into nothing but the caller's own data.",
    )
    assessment_date: date = Field(description="Date of this assessment.")
    age_years: Annotated[int, NUMBER, Field(ge=18, le=120)] | None = Field(
        default=None, description="Age in years (adults only)."
    )
    operations: list[SpineOperation] = Field(min_length=1)
    pain: Pain = Field(default_factory=Pain)
    findings: Findings = Field(default_factory=Findings)
    red_flags: RedFlags = Field(default_factory=RedFlags)
    treatments: list[Treatment] = Field(default_factory=list)
    psychosocial: Psychosocial = Field(default_factory=Psychosocial)
    examination: Examination = Field(default_factory=Examination)
    scs: ScsWorkup = Field(default_factory=ScsWorkup)
    medicines: Medicines = Field(default_factory=Medicines)
    surgical_opinion: SurgicalOpinion | None = item("The spinal surgeon's opinion on record.")
    in_fitness_programme: Flag = item("Takes part in a fitness programme.")
    oswestry_disability_index: Percent | None = Field(default=None, description="ODI, 0-100 %.")

    # Every way of validating a record refuses bad data with an error that holds no
    # value: pydantic keeps each input in ``errors()`` and ``json()`` (and the whole
    # record for a check across fields), which a program that logs them would log.
    def __init__(self, /, **data: Any) -> None:
        _refusing_values(lambda: super(PatientRecord, self).__init__(**data))

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """As pydantic's, with an error that holds no patient value."""
        return _refusing_values(lambda: super(PatientRecord, cls).model_validate(obj, **options))

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """As pydantic's, with an error that holds no patient value."""
        return _refusing_values(
            lambda: super(PatientRecord, cls).model_validate_json(json_data, **options)
        )

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:
        """As pydantic's, with an error that holds no patient value."""
        return _refusing_values(
            lambda: super(PatientRecord, cls).model_validate_strings(obj, **options)
        )

    @field_validator("assessment_date")
    @classmethod
    def _assessment_not_in_future(cls, value: date) -> date:
        if value > date.today():
            raise ValueError("the assessment date is in the future")
        return value

    @model_validator(mode="after")
    def _dates_not_after_assessment(self) -> Self:
        dated = {
            "red_flags.screened_on": self.red_flags.screened_on,
            "psychosocial.phq9_date": self.psychosocial.phq9_date,
            "psychosocial.gad7_date": self.psychosocial.gad7_date,
            "psychosocial.psychological_evaluation_date": (
                self.psychosocial.psychological_evaluation_date
            ),
            "psychosocial.suicide_risk_assessment.date": (
                None
                if self.psychosocial.suicide_risk_assessment is None
                else self.psychosocial.suicide_risk_assessment.date
            ),
        }
        dated["psychosocial.mood_treatment_start"] = self.psychosocial.mood_treatment_start
        dated["medicines.last_opioid_review"] = self.medicines.last_opioid_review
        for index, opioid in enumerate(self.medicines.opioids):
            dated[f"medicines.opioids.{index}.start_date"] = opioid.start_date
            dated[f"medicines.opioids.{index}.stop_date"] = opioid.stop_date
        for name, when in dated.items():
            if when is not None and when > self.assessment_date:
                raise ValueError(f"{name} is dated after the assessment")
        return self

    @field_validator("operations")
    @classmethod
    def _operations_before_assessment(
        cls, value: list[SpineOperation], info: ValidationInfo
    ) -> list[SpineOperation]:
        assessed = info.data.get("assessment_date")
        for index, operation in enumerate(value):
            if assessed is not None and operation.date > assessed:
                raise ValueError(f"operation {index} is dated after the assessment")
        return value

    @field_validator("treatments")
    @classmethod
    def _treatments_consistent(
        cls, value: list[Treatment], info: ValidationInfo
    ) -> list[Treatment]:
        assessed = info.data.get("assessment_date")
        for index, treatment in enumerate(value):
            started = treatment.start_date
            if assessed is not None and started is not None and started > assessed:
                raise ValueError(f"treatment {index} starts after the assessment")
            lasted = treatment.relief_duration_months
            if (
                assessed is not None
                and started is not None
                and lasted is not None
                and lasted > _months_begun(started, assessed)
            ):
                raise ValueError(
                    f"treatment {index}: relief_duration_months is longer than the time "
                    "from its start to the assessment"
                )
        trial_dates = [
            t.start_date for t in value if t.kind is TreatmentKind.SCS_TRIAL and t.start_date
        ]
        first_trial = min(trial_dates, default=None)
        for index, treatment in enumerate(value):
            implanted = (
                treatment.start_date if treatment.kind is TreatmentKind.SCS_IMPLANT else None
            )
            if implanted is not None and first_trial is not None and implanted < first_trial:
                raise ValueError(f"treatment {index} (scs_implant) is dated before the SCS trial")
        return value


def _months_begun(start: date, end: date) -> int:
    """Calendar months from ``start`` to ``end``, a month begun counting whole.

    The longest relief a treatment can have given by ``end``: 1 August to 1 October
    is 2, to 2 October 3. The rules' own measure (``facts.months_begun``, a room
    above this one) clamps month ends; this count is never below it.
    """
    months = (end.year - start.year) * 12 + end.month - start.month
    return months + 1 if end.day > start.day else months
