"""Medicines the pathway reads: opioids in detail, and the co-medication."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from fbss_pathway.record.scales import NUMBER, Flag, RecordPart, item
from fbss_pathway.record.treatments import SideEffects


class OpioidIngredient(StrEnum):
    """Opioid ingredients the pathway converts to morphine milligram equivalents (or names)."""

    CODEINE = "codeine"
    HYDROCODONE = "hydrocodone"
    HYDROMORPHONE = "hydromorphone"
    METHADONE = "methadone"
    MORPHINE = "morphine"
    OXYCODONE = "oxycodone"
    OXYMORPHONE = "oxymorphone"
    TAPENTADOL = "tapentadol"
    TRAMADOL = "tramadol"
    FENTANYL = "fentanyl"
    BUPRENORPHINE = "buprenorphine"
    OTHER = "other"


#: Ingredients given as patches, whose dose is in micrograms an hour.
PATCH_INGREDIENTS = frozenset({OpioidIngredient.FENTANYL, OpioidIngredient.BUPRENORPHINE})

DailyDose = Annotated[float, NUMBER, Field(gt=0, le=10000)]


class OpioidUse(RecordPart):
    """One opioid, current or stopped (pathway.md 5.2).

    Current when it has no stop date before the assessment (stopped on the
    assessment day: still current). The dose is mg a day, or mcg an hour for a
    transdermal patch; ``mme_per_day`` records morphine milligram equivalents
    directly when only they are known. A dose that is not recorded leaves the
    MME unknown.
    """

    ingredient: OpioidIngredient = Field(description="The opioid ingredient.")
    daily_dose_mg: DailyDose | None = item("Total daily dose in mg (tablets, liquids).")
    mcg_per_hour: DailyDose | None = item(
        "Dose of a transdermal patch (fentanyl, buprenorphine) in micrograms an hour."
    )
    mme_per_day: DailyDose | None = item(
        "Morphine milligram equivalents a day, when recorded instead of the dose."
    )
    start_date: date | None = item("When it was started.")
    stop_date: date | None = item("When it was stopped; none while it is taken.")
    benefit: Flag = item("The clinician judges that it brings worthwhile benefit.")
    side_effects: SideEffects | None = item("Worst side effects.")

    @model_validator(mode="after")
    def _one_way_of_giving_the_dose(self) -> Self:
        if self.daily_dose_mg is not None and self.mcg_per_hour is not None:
            raise ValueError("give daily_dose_mg or mcg_per_hour, not both")
        if self.mcg_per_hour is not None and self.ingredient not in PATCH_INGREDIENTS:
            raise ValueError(
                f"mcg_per_hour is for patches (fentanyl, buprenorphine), not {self.ingredient}"
            )
        if self.start_date and self.stop_date and self.stop_date < self.start_date:
            raise ValueError("stop_date is before start_date")
        return self


class Medicines(RecordPart):
    """Medicines the safety sections read (pathway.md 3.4, 3.5)."""

    benzodiazepine: Flag = item("A benzodiazepine in current use.")
    gabapentinoid: Flag = item("A gabapentinoid (gabapentin, pregabalin) in current use.")
    nsaid: Flag = item("An NSAID in current use.")
    antithrombotic: Flag = item("An anticoagulant or antiplatelet in current use.")
    antithrombotic_can_pause: Flag = item(
        "The anticoagulant or antiplatelet can be paused for a procedure."
    )
    opioids: list[OpioidUse] = Field(
        default_factory=list,
        max_length=50,
        description="Opioids, current and stopped, with their doses (pathway.md 5.2).",
    )
    opioid_taper_under_way: Flag = item("An opioid taper is under way.")
    past_opioid_overdose: Flag = item("A past opioid overdose.")
    suspected_opioid_use_disorder: Flag = item("Suspected opioid use disorder.")
    last_opioid_review: date | None = item("When opioids were last reviewed (benefit, harm).")

    @model_validator(mode="after")
    def _pause_only_with_an_antithrombotic(self) -> Self:
        if self.antithrombotic is False and self.antithrombotic_can_pause is not None:
            raise ValueError(
                "antithrombotic_can_pause is recorded but no anticoagulant or antiplatelet is"
            )
        return self
