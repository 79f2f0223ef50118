"""HL7 FHIR R4 at the library's edge: bundles in, bundles out.

``record_from_bundle`` reads a Bundle (Patient, Condition, Observation,
Procedure, MedicationStatement/MedicationRequest) into a :class:`PatientRecord`
through a code mapping that is data (``codes.toml``, extensible with a site's
own file); ``bundle_from_record`` writes the reverse. See ``docs/fhir.md``.
"""

from .codes import LOCAL_SYSTEM, CodeEntry, CodeMap, CodeMapError
from .reading import BundleReading, FhirError, Ignored, read_bundle, record_from_bundle
from .writing import bundle_from_record

__all__ = [
    "LOCAL_SYSTEM",
    "BundleReading",
    "CodeEntry",
    "CodeMap",
    "CodeMapError",
    "FhirError",
    "Ignored",
    "bundle_from_record",
    "read_bundle",
    "record_from_bundle",
]
