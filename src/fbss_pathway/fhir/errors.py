"""The FHIR adapter's errors: safe to log, they name entries and elements, never values."""

from __future__ import annotations

from ..errors import FbssPathwayError

__all__ = ["FhirError", "NotApplicableError"]


class FhirError(FbssPathwayError, ValueError):
    """A bundle that cannot be read; the message names the entry, resource type and element."""


class NotApplicableError(FbssPathwayError, ValueError):
    """The bundle describes a patient outside the pathway (no lumbar operation, under 18, ...).

    Attributes:
        reasons: Why, in words a clinician reads (no patient values).
    """

    def __init__(self, reasons: tuple[str, ...]) -> None:
        self.reasons = reasons
        outside = "the patient is outside the PSPS type 2 (FBSS) pathway: "
        super().__init__(outside + "; ".join(reasons))
