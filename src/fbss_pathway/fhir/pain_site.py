"""Pain scores that say neither back nor leg: read as nothing, and said to exist.

Most EHR pain scores (LOINC 72514-3 without a body site; every one in Synthea's
charts) rate "pain" without saying which. The pathway's ladder depends on back
against leg pain, so such a score sets neither (the reader lists it in
``ignored``). While back or leg pain is then unknown, the reading says that
scores exist, naming the most recent resources, never their values, so that a
clinician does not take "not recorded" for "never scored".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = ["UnsitedPain", "unsited_pain"]

#: The most resources a warning names; the rest are counted.
_NAMED = 3
_ITEMS = (("pain.back_nrs", "back pain"), ("pain.leg_nrs", "leg pain"))


@dataclass(frozen=True, slots=True)
class UnsitedPain:
    """Site-less pain scores (most recent first) and the pain items left unknown."""

    resources: tuple[str, ...]
    unknown: tuple[str, ...]  # in words: "back pain", "leg pain"

    def text(self) -> str:
        """The warning: how many, the most recent resources, what is unknown; no value."""
        named = ", ".join(self.resources[:_NAMED])
        more = len(self.resources) - _NAMED
        which = f"{named} and {more} more" if more > 0 else named
        items = " and ".join(self.unknown)
        verb = "are" if len(self.unknown) > 1 else "is"
        return (
            f"Pain scores recorded without saying back or leg ({which}): {items} {verb} "
            "read as unknown; record which pain each score rates."
        )


def unsited_pain(
    scores: Sequence[tuple[date | None, str]], values: Mapping[str, Any]
) -> UnsitedPain | None:
    """The warning's content, or None when there is no such score or both pains are known."""
    unknown = tuple(words for item, words in _ITEMS if values.get(item) is None)
    if not scores or not unknown:
        return None
    newest = sorted(scores, key=lambda score: score[0] or date.min, reverse=True)
    return UnsitedPain(tuple(dict.fromkeys(label for _, label in newest)), unknown)
