"""What typical patients got with spinal cord stimulation, for a shared decision.

Pathway.md 7.1 and 7.2: where the option is open (appropriate or may be), the
clinician and patient see the figures of the studies behind the advice, each
with its study, population, endpoint and year: information about groups of
patients, never a promise to this one. The rules decide the verdict and the
advice level; this module only words the evidence beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..recommendation import OptionAppraisal
from ..vocabulary import Option, ScsAdvice, Verdict

__all__ = [
    "ADVICE_WORDS",
    "PSYCHOSOCIAL_FIGURES",
    "PSYCHOSOCIAL_FIGURES_SOURCE",
    "TYPICAL_OUTCOMES_NOTE",
    "TypicalOutcome",
    "typical_outcomes",
    "typical_outcomes_title",
]

#: The advice levels in words (pathway.md 7.1, 13).
ADVICE_WORDS = {
    ScsAdvice.STRONGLY_RECOMMENDED: "strongly recommended",
    ScsAdvice.RECOMMENDED: "recommended",
    ScsAdvice.RARELY_RECOMMENDED: "rarely recommended",
}

#: Thomson 2022's figures with their population (pathway.md 7.2), shown on the option.
PSYCHOSOCIAL_FIGURES = (
    "for information, not a promise: in a retrospective re-analysis (Thomson 2022) of "
    "patients for whom SCS was strongly recommended on clinical grounds, 86 % improved "
    "with no psychosocial problems and 60 % with severe ones"
)
#: The source key of those figures: cited wherever they are shown (pathway.md 0).
PSYCHOSOCIAL_FIGURES_SOURCE = "thomson2022"

#: Said beside the figures wherever they are shown: groups of patients, not a promise.
TYPICAL_OUTCOMES_NOTE = (
    "Results of groups of patients in studies, to share with the patient; not a promise "
    "of what this patient will get."
)


def typical_outcomes_title(advice: ScsAdvice) -> str:
    """The heading of the figures: the option, its advice level, and what follows."""
    return f"Spinal cord stimulation ({ADVICE_WORDS[advice]}): what typical patients got"


@dataclass(frozen=True, slots=True)
class TypicalOutcome:
    """One study's result for the patients it enrolled."""

    study: str
    year: int
    population: str
    endpoint: str
    result: str
    source: str

    def sentence(self) -> str:
        """The figure in one line, as "% of patients" with its population and year."""
        return f"{self.study} ({self.year}), {self.population}: {self.endpoint}, {self.result}."


_PROCESS = TypicalOutcome(
    study="PROCESS trial",
    year=2007,
    population="leg-predominant neuropathic pain after back surgery",
    endpoint="at least 50 % leg-pain relief at 6 months",
    result="48 % of patients with SCS against 9 % with medical management alone",
    source="kumar2007",
)
_SENZA = TypicalOutcome(
    study="SENZA-RCT",
    year=2015,
    population="chronic back and leg pain, back pain the larger part (10 kHz SCS)",
    endpoint="back pain responders (at least 50 % relief)",
    result="84.5 % of patients with 10 kHz SCS against 43.8 % with conventional SCS",
    source="kapural2015",
)
_THOMSON = TypicalOutcome(
    study="European e-health SCS tool, retrospective re-analysis",
    year=2022,
    population="patients for whom SCS was strongly recommended on clinical grounds",
    endpoint="improved",
    result="86 % of patients with no psychosocial problems against 60 % with severe ones",
    source="thomson2022",
)


def typical_outcomes(appraisal: OptionAppraisal) -> tuple[TypicalOutcome, ...]:
    """The figures to show beside the SCS option, or none where it is not open.

    Shown only while spinal cord stimulation is appropriate or may be and carries
    an advice level: a hold (a severe psychosocial factor, a safety gate) or a
    verdict against it shows no outcome figures. Strongly recommended means
    leg-predominant pain (PROCESS); recommended may be back-predominant pain or
    a modifiable factor, so both trials are shown, each with its population.
    """
    if (
        appraisal.option is not Option.SPINAL_CORD_STIMULATION
        or appraisal.verdict not in (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE)
        or appraisal.advice_level not in (ScsAdvice.STRONGLY_RECOMMENDED, ScsAdvice.RECOMMENDED)
    ):
        return ()
    if appraisal.advice_level is ScsAdvice.STRONGLY_RECOMMENDED:
        return (_PROCESS, _THOMSON)
    return (_PROCESS, _SENZA, _THOMSON)
