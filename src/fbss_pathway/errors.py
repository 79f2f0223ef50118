"""The library's exceptions.

Bad patient data is reported by pydantic's ``ValidationError`` (a ``ValueError``)
raised from :class:`~fbss_pathway.PatientRecord`; everything else derives from
one root::

    FbssPathwayError
    ├── RuleSetError (ValueError)       a rule directory that does not load
    ├── EvaluationError (RuntimeError)  the engine failed while evaluating a record
    └── NotARecordError (TypeError)     what was given as a record or rule set is not one

No message here ever contains a patient's identifiers or values: they name
files, rule ids, keys and fact names only, so they are safe to log.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EvaluationError", "FbssPathwayError", "NotARecordError", "RuleIssue", "RuleSetError"]


class FbssPathwayError(Exception):
    """Root of the library's own exceptions."""


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """One problem found while loading a rule directory.

    Attributes:
        file: The rule file, relative to the rule directory.
        rule_id: The rule concerned, or None for file-level problems.
        key: The offending key, as a dotted path inside the rule.
        message: What is wrong, with a did-you-mean suggestion where one exists.
    """

    file: str
    rule_id: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.rule_id is not None:
            where += f" rule {self.rule_id}"
        if self.key is not None:
            where += f" key {self.key!r}"
        return f"{where}: {self.message}"


class RuleSetError(FbssPathwayError, ValueError):
    """A rule directory failed validation; nothing from it was loaded.

    Attributes:
        issues: Every problem found, so that one run shows them all.
    """

    def __init__(self, issues: list[RuleIssue]) -> None:
        self.issues = tuple(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"the rule set does not load ({len(self.issues)} problem(s)):\n{lines}")


class EvaluationError(FbssPathwayError, RuntimeError):
    """The rule engine failed while evaluating a record; no partial answer is returned.

    Attributes:
        rule_id: The rule whose action failed, when known.
    """

    def __init__(self, message: str, *, rule_id: str | None = None) -> None:
        self.rule_id = rule_id
        super().__init__(message if rule_id is None else f"rule {rule_id}: {message}")


class NotARecordError(FbssPathwayError, TypeError):
    """What was given as a record (or rule set) is not one: ``None``, a list, a string.

    A ``TypeError`` as well, as Python names a wrong argument type, so that callers
    catching either see it; the message names the type given, never its content.
    """
