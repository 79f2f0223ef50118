"""Treatments tried: exercise, analgesics, blocks, radiofrequency, SCS and others."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from fbss_pathway.record.scales import NUMBER, Flag, Months, Percent, RecordPart, Weeks


class TreatmentKind(StrEnum):
    """Kind of treatment tried."""

    EXERCISE_THERAPY = "exercise_therapy"
    ANALGESICS = "analgesics"
    MEDIAL_BRANCH_BLOCK = "medial_branch_block"
    RADIOFREQUENCY_DENERVATION = "radiofrequency_denervation"
    SCS_TRIAL = "scs_trial"
    SCS_IMPLANT = "scs_implant"
    PSYCHOLOGICAL_THERAPY = "psychological_therapy"
    TRIGGER_ZONE_TREATMENT = "trigger_zone_treatment"


class Adherence(StrEnum):
    """How well the patient kept to a treatment."""

    GOOD = "good"
    PARTIAL = "partial"
    POOR = "poor"


class SideEffects(StrEnum):
    """Worst side effects of a treatment."""

    NONE = "none"
    MILD = "mild"
    SEVERE = "severe"


class AnalgesicUse(StrEnum):
    """Analgesic use during an SCS trial, against before it."""

    NOT_INCREASED = "not_increased"
    INCREASED = "increased"


class Activity(StrEnum):
    """Activity during an SCS trial, against before it."""

    NOT_WORSE = "not_worse"
    WORSE = "worse"


Level = Annotated[str, Field(pattern=r"^[LST]\d{1,2}(-[LST]\d{1,2})?$")]

#: Items recorded only for some kinds of treatment.
_ONLY_FOR: dict[str, frozenset[TreatmentKind]] = {
    "opioid": frozenset({TreatmentKind.ANALGESICS}),
    "benefit": frozenset(
        {
            TreatmentKind.ANALGESICS,
            TreatmentKind.PSYCHOLOGICAL_THERAPY,
            TreatmentKind.TRIGGER_ZONE_TREATMENT,
        }
    ),
    "levels": frozenset(
        {TreatmentKind.MEDIAL_BRANCH_BLOCK, TreatmentKind.RADIOFREQUENCY_DENERVATION}
    ),
    "analgesic_use": frozenset({TreatmentKind.SCS_TRIAL}),
    "activity": frozenset({TreatmentKind.SCS_TRIAL}),
    "wishes_to_proceed": frozenset({TreatmentKind.SCS_TRIAL}),
    "technically_adequate": frozenset({TreatmentKind.SCS_TRIAL}),
}


class Treatment(RecordPart):
    """One treatment tried. A kind absent from the list was not tried.

    When a kind appears more than once, the pathway reads the most recent entry
    (entries of that kind on the most recent day together: details where they agree).
    """

    kind: TreatmentKind = Field(description="Kind of treatment.")
    start_date: date | None = Field(default=None, description="When it started.")
    duration_weeks: Weeks | None = Field(default=None, description="How many weeks it lasted.")
    sessions: Annotated[int, NUMBER, Field(ge=1, le=1000)] | None = Field(
        default=None, description="Sessions attended, where it was given in sessions."
    )
    adherence: Adherence | None = Field(default=None, description="How well it was kept to.")
    relief_percent: Percent | None = Field(default=None, description="Pain relief achieved.")
    relief_duration_months: Months | None = Field(
        default=None, description="How long relief lasted."
    )
    side_effects: SideEffects | None = Field(default=None, description="Worst side effects.")
    opioid: Flag = Field(default=None, description="Analgesics only: an opioid is part of it.")
    benefit: Flag = Field(
        default=None,
        description=(
            "Analgesics, psychological therapy and trigger-zone treatment: the clinician "
            "judges that it brought worthwhile benefit (no: tried without effect)."
        ),
    )
    levels: list[Level] | None = Field(
        default=None,
        description='Medial branch blocks and radiofrequency: the levels treated, e.g. "L4-L5".',
    )
    analgesic_use: AnalgesicUse | None = Field(
        default=None, description="SCS trial only: analgesic use during the trial."
    )
    activity: Activity | None = Field(
        default=None, description="SCS trial only: activity during the trial."
    )
    wishes_to_proceed: Flag = Field(
        default=None, description="SCS trial only: the patient wishes to proceed to an implant."
    )
    technically_adequate: Flag = Field(
        default=None,
        description="SCS trial only: the stimulation covered the painful area (no: repeat it).",
    )

    @model_validator(mode="after")
    def _items_only_where_they_apply(self) -> Self:
        for name, kinds in _ONLY_FOR.items():
            if self.kind not in kinds and getattr(self, name) is not None:
                allowed = ", ".join(sorted(kinds))
                raise ValueError(f"{name} is recorded only for {allowed}, not for {self.kind}")
        return self
