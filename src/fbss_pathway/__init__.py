"""fbss_pathway: explained pathway recommendations for persistent pain after spine surgery.

Failed back surgery syndrome (FBSS; persistent spinal pain syndrome type 2) is
treated along an escalation ladder (exercise and supportive analgesics, then
radiofrequency denervation for facet-joint pain, then spinal cord stimulation
for radiating leg pain) with an interdisciplinary programme alongside; red
flags pre-empt everything. This library turns a typed patient record into a
recommendation whose every part shows its rule, reason, inputs and sources.
Every treatment option is appraised side by side with a verdict, behind a safety
gate; the ladder's stage is their summary. It supports a clinician's decision;
it does not make it.
"""

from .batch import BatchResult, FieldError, RecordError, evaluate_many
from .errors import EvaluationError, FbssPathwayError, NotARecordError, RuleIssue, RuleSetError
from .evaluation import evaluate
from .recommendation import (
    Action,
    ExpectedBenefit,
    InputValue,
    MissingInput,
    OptionAppraisal,
    PathwayWarning,
    Reassessment,
    Recommendation,
    TraceEntry,
)
from .record import PatientRecord
from .ruleset import RuleSet, load_ruleset
from .vocabulary import ActionCode, Option, ReassessItem, RedFlagTier, ScsAdvice, Stage, Verdict

__version__ = "0.1.0"

__all__ = [
    "Action",
    "ActionCode",
    "BatchResult",
    "EvaluationError",
    "ExpectedBenefit",
    "FbssPathwayError",
    "FieldError",
    "InputValue",
    "MissingInput",
    "NotARecordError",
    "Option",
    "OptionAppraisal",
    "PathwayWarning",
    "PatientRecord",
    "ReassessItem",
    "Reassessment",
    "Recommendation",
    "RecordError",
    "RedFlagTier",
    "RuleIssue",
    "RuleSet",
    "RuleSetError",
    "ScsAdvice",
    "Stage",
    "TraceEntry",
    "Verdict",
    "__version__",
    "evaluate",
    "evaluate_many",
    "load_ruleset",
]
