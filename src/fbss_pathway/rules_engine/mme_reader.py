"""Reading the MME table of a rule directory (``mme.toml``, pathway.md 5.2).

A factor multiplies a patient's dose into the figure the MME thresholds are
compared with, so a wrong one is as dangerous as a wrong threshold: each row is
checked like a parameter (a plain, finite, positive number; a unit of dose;
sources that exist), and every problem names the ingredient and key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, get_args

from ..mme import DosePer, MmeFactor, is_ingredient
from ..record.medicines import OpioidIngredient
from .condition_reader import suggest
from .limits import number_problem
from .model import Source

__all__ = ["MME_FILE", "MmeReading"]

#: The table's file in a rule directory; optional (without it no dose is converted).
MME_FILE = "mme.toml"

_KEYS = frozenset({"factor", "per", "converted", "rxcui", "sources", "read_in"})
_PER: tuple[str, ...] = get_args(DosePer)
_RXCUI = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)
_INGREDIENTS = [i.value for i in OpioidIngredient if i is not OpioidIngredient.OTHER]


class MmeReading:
    """Reads the table's rows; the rule reader supplies ``issue`` and ``source_keys``."""

    def issue(self, key: str | None, message: str) -> None:  # pragma: no cover - overridden
        """Record a problem (the reader records it at the current file)."""
        raise NotImplementedError

    def source_keys(  # pragma: no cover - overridden
        self, value: Any, key: str, sources: Mapping[str, Source]
    ) -> tuple[str, ...]:
        """Known source keys (the reader's own check)."""
        raise NotImplementedError

    def mme_table(
        self, data: dict[str, Any], sources: Mapping[str, Source]
    ) -> dict[str, MmeFactor]:
        """The rows by ingredient; a row with any problem is left out (and reported)."""
        table = {}
        for name, row in data.items():
            if not is_ingredient(name):
                self.issue(
                    name,
                    "is not an opioid ingredient the record names" + suggest(name, _INGREDIENTS),
                )
                continue
            if not isinstance(row, dict):
                self.issue(name, "must be a table with factor, per and sources")
                continue
            found = self._row(name, row, sources)
            if found is not None:
                table[name] = found
        return table

    def _row(
        self, name: str, row: dict[str, Any], sources: Mapping[str, Source]
    ) -> MmeFactor | None:
        problems = 0

        def problem(key: str, message: str) -> None:
            nonlocal problems
            problems += 1
            self.issue(f"{name}.{key}", message)

        for key in sorted(row.keys() - _KEYS):
            problem(key, "unknown key" + suggest(key, _KEYS))
        factor, per, converted = row.get("factor"), row.get("per"), row.get("converted", True)
        if converted is not True and converted is not False:
            problem("converted", "must be true or false")
        elif converted is False:
            if factor is not None or per is not None:
                problem("converted", "an ingredient that is not converted has no factor or per")
        elif factor is None:
            problem("factor", "is missing (or say converted = false)")
        else:
            text = number_problem(factor)
            if text is not None:
                problem("factor", text)
            elif factor <= 0:
                problem("factor", "must be greater than 0")
            if per not in _PER:
                problem("per", f"must be one of {', '.join(_PER)}")
        rxcui = row.get("rxcui")
        if rxcui is not None and not (isinstance(rxcui, str) and _RXCUI.fullmatch(rxcui)):
            problem("rxcui", 'must be an RxNorm CUI written as a string of digits ("7052")')
        read_in = row.get("read_in")
        if not isinstance(read_in, str) or not read_in.strip():
            problem("read_in", "must say where the factor was read")
        keys = self.source_keys(row.get("sources"), f"{name}.sources", sources)
        if problems or not keys or any(key not in sources for key in keys):
            return None
        return MmeFactor(
            ingredient=name,
            factor=float(factor) if isinstance(factor, int | float) else None,
            per=None if converted is False else per,
            rxcui=rxcui,
            sources=keys,
            read_in=read_in.strip() if isinstance(read_in, str) else "",
        )
