"""The operations, pain, findings, red flags, examination and SCS work-up."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from fbss_pathway.record.scales import NRS, NUMBER, Flag, Months, RecordPart, item


class OperationKind(StrEnum):
    """Kind of lumbar spine operation."""

    DECOMPRESSION_DISCECTOMY = "decompression_discectomy"
    LAMINECTOMY = "laminectomy"
    FUSION = "fusion"
    OTHER = "other"


class SpineOperation(RecordPart):
    """One spine operation; the pathway counts them and dates the last one."""

    date: Annotated[date, Field(description="Date of the operation.")]
    kind: OperationKind = Field(description="Kind of operation.")
    levels: list[Annotated[str, Field(pattern=r"^[LST]\d{1,2}(-[LST]\d{1,2})?$")]] | None = Field(
        default=None, description='Operated levels, e.g. "L4-L5" or "L5-S1".'
    )


class TargetPain(StrEnum):
    """The pain a treatment is aimed at."""

    BACK = "back"
    LEG = "leg"


class Pain(RecordPart):
    """Current pain, rated on 0-10 numeric rating scales."""

    back_nrs: NRS | None = Field(default=None, description="Back pain now, 0-10 (NRS).")
    leg_nrs: NRS | None = Field(default=None, description="Leg pain now, 0-10 (NRS).")
    radiating_leg_pain: Flag = Field(default=None, description="Pain radiates into a leg.")
    neuropathic_features: Flag = item(
        "Neuropathic features of the pain, by the clinician's judgement (decides over a screen)."
    )
    dn4: Annotated[int, NUMBER, Field(ge=0, le=10)] | None = item(
        "DN4 neuropathic pain questionnaire score, 0-10."
    )
    lanss: Annotated[int, NUMBER, Field(ge=0, le=24)] | None = item("LANSS pain scale score, 0-24.")
    paindetect: Annotated[int, NUMBER, Field(ge=-1, le=38)] | None = item(
        "painDETECT questionnaire score, -1 to 38."
    )
    target_pain: TargetPain | None = item(
        "The pain spinal cord stimulation would treat; when unrecorded, the leg pain when "
        "leg >= back, else the back pain."
    )
    duration_months: Months | None = Field(default=None, description="Months of this pain.")


class Findings(RecordPart):
    """Findings that point to a cause of the persistent pain."""

    facet_arthropathy: Flag = item("Facet-joint arthropathy.")
    adjacent_segment_degeneration: Flag = item("Degeneration of the segment next to a fusion.")
    foraminal_stenosis: Flag = item("Foraminal stenosis.")
    internal_disc_disruption: Flag = item("Internal disc disruption.")
    recurrent_disc_herniation: Flag = item("Recurrent disc herniation.")
    concordant_radiculopathy: Flag = item("Radicular signs matching the imaging finding.")
    epidural_fibrosis: Flag = item("Epidural fibrosis (scar).")
    pseudarthrosis: Flag = item(
        "Known pseudarthrosis (failed fusion) or instability, imaged and followed."
    )
    hardware_failure: Flag = item("Known hardware failure, imaged and followed.")
    sacroiliac_joint_pain: Flag = item("Sacroiliac-joint pain.")
    facet_pain_suspected: Flag = item(
        "Facet pain suspected clinically: axial pain pattern, paraspinal tenderness "
        "(a clinician's judgement, not imaging; radicular leg pain does not exclude it)."
    )


class RedFlags(RecordPart):
    """The red-flag screen: signs of a serious cause, each as screened now.

    Every interventional step needs each flag known "no" (pathway.md 3.3). The
    screen is the one done on ``screened_on`` (the assessment date when not given);
    one older than the rule set's ``red_flag_recency_months`` leaves every flag unknown.
    """

    cauda_equina_signs: Flag = item(
        "New or worsening cauda equina signs: urinary retention or incontinence, faecal "
        "incontinence, saddle anaesthesia, bilateral sciatica, sexual dysfunction."
    )
    progressive_motor_deficit: Flag = item(
        "New or rapidly progressive motor deficit, e.g. foot drop (also after an SCS trial "
        "or implant)."
    )
    suspected_infection: Flag = item("Suspected spinal, wound or device infection.")
    infection_systemic_signs: Flag = item(
        "Systemic signs with the suspected infection: fever, sepsis."
    )
    suspected_structural_failure: Flag = item(
        "A new suspicion of fracture, hardware failure or gross instability (a known, "
        "stable finding is recorded under findings)."
    )
    suspected_malignancy: Flag = item(
        "Suspected malignancy: history of cancer with new pain, weight loss or night pain."
    )
    screened_on: date | None = item(
        "Date of the red-flag screen these answers come from; the assessment date when absent."
    )

    @model_validator(mode="after")
    def _systemic_signs_with_an_infection(self) -> Self:
        if self.suspected_infection is False and self.infection_systemic_signs is True:
            raise ValueError(
                "infection_systemic_signs is yes but suspected_infection is no: "
                "record the suspected infection"
            )
        return self


class SurgicalOpinion(StrEnum):
    """The spinal surgeon's opinion on record (pathway.md 8)."""

    NOT_SOUGHT = "not_sought"
    OPERATION_ADVISED = "operation_advised"
    NOT_SURGICAL = "not_surgical"
    PATIENT_DECLINES = "patient_declines"


class Examination(RecordPart):
    """Examination for the interdisciplinary algorithm."""

    myofascial_trigger_zones: Flag = item("Myofascial trigger zones.")
    skin_allodynia: Flag = item("Zones of skin allodynia.")
    scar_trigger_zones: Flag = item("Trigger zones of the operation scar.")
    scar_allodynia: Flag = item("Allodynia of the operation scar.")


class ScsWorkup(RecordPart):
    """Work-up for spinal cord stimulation: team assessment and contraindications."""

    team_assessment_done: Flag = item("Multidisciplinary assessment for SCS has been done.")
    active_infection: Flag = item("Active infection.")
    uncorrectable_coagulopathy: Flag = item(
        "A coagulopathy that cannot be corrected (an antithrombotic that cannot be paused "
        "is recorded under medicines)."
    )
    unable_to_operate_device: Flag = item("Unable to operate a stimulator.")
    pregnancy: Flag = item("Pregnancy: defers every X-ray-guided step.")
    mri_need_incompatible: Flag = item("Foreseeable need for MRI that the device cannot meet.")
    cardiac_implantable_device: Flag = item(
        "A cardiac implantable device (pacemaker, defibrillator): check compatibility."
    )
    conventional_management_failed: Flag = item(
        "A clinician's record that conventional medical management failed or was not "
        "tolerated (counts as the failed conservative trial for SCS)."
    )
