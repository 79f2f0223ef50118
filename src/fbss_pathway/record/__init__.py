"""The typed patient record: everything the pathway can say about a patient.

Every clinical item may be *unknown* (``None``): not assessed is not the same as
"no", and the rules report unknown items as missing information instead of
treating them as negative. Validation rejects values outside their scale and
contradictory data with a pydantic ``ValidationError`` that names the field;
``hide_input_in_errors`` keeps patient values out of the error text.

The items follow ``docs/record.md`` (and the clinical specification, section 2).
The parts live in modules of their own; import them from here.
"""

from __future__ import annotations

from fbss_pathway.record.clinical import (
    Examination,
    Findings,
    OperationKind,
    Pain,
    RedFlags,
    ScsWorkup,
    SpineOperation,
    SurgicalOpinion,
    TargetPain,
)
from fbss_pathway.record.medicines import Medicines, OpioidIngredient, OpioidUse
from fbss_pathway.record.patient import PatientRecord
from fbss_pathway.record.psychosocial import (
    FactorLevel,
    PsychologicalEvaluation,
    Psychosocial,
    PsychosocialFactors,
    SuicideRisk,
    SuicideRiskAssessment,
)
from fbss_pathway.record.treatments import (
    Activity,
    Adherence,
    AnalgesicUse,
    SideEffects,
    Treatment,
    TreatmentKind,
)

__all__ = [
    "Activity",
    "Adherence",
    "AnalgesicUse",
    "Examination",
    "FactorLevel",
    "Findings",
    "Medicines",
    "OperationKind",
    "OpioidIngredient",
    "OpioidUse",
    "Pain",
    "PatientRecord",
    "PsychologicalEvaluation",
    "Psychosocial",
    "PsychosocialFactors",
    "RedFlags",
    "ScsWorkup",
    "SideEffects",
    "SpineOperation",
    "SuicideRisk",
    "SuicideRiskAssessment",
    "SurgicalOpinion",
    "TargetPain",
    "Treatment",
    "TreatmentKind",
]
