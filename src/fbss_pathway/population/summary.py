"""What a screen read and what came of it: counts for people, and a MeasureReport for dashboards.

Every patient read is evaluated, not applicable or rejected (read =
evaluated + not applicable + rejected, always); every line of the export is a
resource of a patient, an orphan (its patient is not in the export), a shared
or patient-less resource, or a malformed line. Counts and file names only:
no identifier or value of a patient.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from ..vocabulary import Stage
from .passes import Passes

__all__ = ["ScreenSummary", "summarise"]

_MEASURE_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"


@dataclass(slots=True)
class ScreenSummary:
    """The accounts of one screen."""

    read: int
    evaluated: int
    not_applicable: int
    rejected: int
    stages: dict[str, int]
    rejected_kinds: dict[str, int]
    lines: int
    resources: dict[str, int]
    malformed_lines: int
    malformed_at: list[str]  # "file:line", the first few per file
    orphan_resources: int
    orphan_patients: int
    without_patient: dict[str, int]
    shared_resources: int
    out_of_scope_lines: int
    candidates: int
    unread_files: list[str]
    unread_types: dict[str, int]
    files: int
    partitions: int
    largest_partition: int
    peak_worker_rss_mb: float
    ruleset_version: str
    assessment_date: str
    seconds: float = 0.0
    workers: int = 0
    notes: list[str] = field(default_factory=list)

    def lines_for_people(self) -> list[str]:
        """The closing summary printed after a screen."""
        out = [
            f"patients read: {self.read} = evaluated {self.evaluated} + not applicable "
            f"{self.not_applicable} + rejected {self.rejected}",
        ]
        out += [f"  {stage}: {self.stages.get(stage.value, 0)}" for stage in Stage]
        out += [f"  rejected, {kind}: {count}" for kind, count in self.rejected_kinds.items()]
        out.append(
            f"export lines read: {self.lines} in {self.files} files; "
            f"malformed {self.malformed_lines}; "
            f"orphan resources {self.orphan_resources} (of {self.orphan_patients} patients "
            f"not in the export); shared {self.shared_resources}; without a patient "
            f"{sum(self.without_patient.values())}"
        )
        if self.malformed_at:
            out.append("  malformed lines at: " + ", ".join(self.malformed_at))
        out.append(
            f"in scope: {self.candidates} patients read in full; {self.out_of_scope_lines} "
            "lines of other patients not grouped"
        )
        if self.unread_files:
            kinds = ", ".join(f"{kind} ({n})" for kind, n in self.unread_types.items())
            out.append(f"files not opened (types the pathway does not read): {kinds}")
        out.append(
            f"{self.partitions} partitions (largest {self.largest_partition} patients), "
            f"{self.workers} workers, {self.seconds:.1f} s, peak worker memory "
            f"{self.peak_worker_rss_mb:.0f} MB; rule set {self.ruleset_version}"
        )
        out += self.notes
        return out

    def as_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return asdict(self)

    def measure_report(self) -> dict[str, Any]:
        """The count per stage as a FHIR R4 MeasureReport (type summary) for dashboards."""

        def population(code: str, count: int) -> dict[str, Any]:
            return {
                "code": {"coding": [{"system": _MEASURE_POPULATION, "code": code}]},
                "count": count,
            }

        counts = [(stage.value, self.stages.get(stage.value, 0)) for stage in Stage]
        counts += [("not_applicable", self.not_applicable), ("rejected", self.rejected)]
        strata = [
            {"value": {"text": name}, "population": [population("initial-population", n)]}
            for name, n in counts
        ]
        return {
            "resourceType": "MeasureReport",
            "status": "complete",
            "type": "summary",
            "measure": "urn:fbss-pathway:measure:pathway-stage",
            "date": self.assessment_date,
            "period": {"start": self.assessment_date, "end": self.assessment_date},
            "group": [
                {
                    "code": {"text": "FBSS pathway stage"},
                    "population": [population("initial-population", self.read)],
                    "stratifier": [{"code": [{"text": "stage"}], "stratum": strata}],
                }
            ],
            "extension": [
                {
                    "url": "urn:fbss-pathway:ruleset-version",
                    "valueString": self.ruleset_version,
                }
            ],
        }


def summarise(
    passes: Passes,
    *,
    ruleset_version: str,
    assessment_date: date,
) -> ScreenSummary:
    """Add up the files' and partitions' accounts."""
    splits, parts = passes.splits, passes.parts
    outcomes: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    resources: Counter[str] = Counter()
    without: Counter[str] = Counter()
    for part in parts:
        outcomes.update(part.outcomes)
        stages.update(part.stages)
        rejected.update(part.rejected)
    for split in splits:
        resources.update(split.resources)
        without.update(split.without_patient)
    return ScreenSummary(
        read=sum(outcomes.values()),
        evaluated=outcomes["evaluated"],
        not_applicable=outcomes["not_applicable"],
        rejected=outcomes["rejected"],
        stages=dict(sorted(stages.items())),
        rejected_kinds=dict(sorted(rejected.items())),
        lines=sum(split.lines for split in splits),
        resources=dict(sorted(resources.items())),
        malformed_lines=sum(split.malformed for split in splits)
        + sum(part.malformed for part in parts),
        malformed_at=[f"{s.file}:{n}" for s in splits for n in s.malformed_lines],
        orphan_resources=sum(part.orphan_resources for part in parts),
        orphan_patients=sum(part.orphan_patients for part in parts),
        without_patient=dict(sorted(without.items())),
        shared_resources=sum(split.shared for split in splits),
        out_of_scope_lines=sum(split.out_of_scope for split in splits),
        candidates=passes.candidates,
        unread_files=passes.unread_files,
        unread_types=passes.unread_types,
        files=len(splits),
        partitions=len(parts),
        largest_partition=max((part.patients + part.orphan_patients for part in parts), default=0),
        peak_worker_rss_mb=max(
            [s.peak_rss_mb for s in splits] + [p.peak_rss_mb for p in parts], default=0.0
        ),
        ruleset_version=ruleset_version,
        assessment_date=assessment_date.isoformat(),
    )
