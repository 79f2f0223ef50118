"""HL7 FHIR R4 at the library's edge: bundles in, bundles out.

``read_bundle`` reads a Bundle (Patient, Condition, Observation, Procedure,
MedicationStatement/MedicationRequest, QuestionnaireResponse) into a
:class:`PatientRecord` through a code mapping that is data (``codes.toml``,
extensible with a site's own file), with the safety rules of ``docs/fhir.md``;
``bundle_from_record`` writes the reverse, and ``questionnaire()`` is the
pathway assessment for what has no standard code.
"""

from .codes import LOCAL_SYSTEM, CodeEntry, CodeMap, CodeMapError
from .errors import FhirError, NotApplicableError
from .questionnaire import QUESTIONNAIRE_URL, questionnaire, response_from_record
from .reading import BundleReading, Conflict, Ignored, read_bundle, record_from_bundle
from .writing import bundle_from_record

__all__ = [
    "LOCAL_SYSTEM",
    "QUESTIONNAIRE_URL",
    "BundleReading",
    "CodeEntry",
    "CodeMap",
    "CodeMapError",
    "Conflict",
    "FhirError",
    "Ignored",
    "NotApplicableError",
    "bundle_from_record",
    "questionnaire",
    "read_bundle",
    "record_from_bundle",
    "response_from_record",
]
