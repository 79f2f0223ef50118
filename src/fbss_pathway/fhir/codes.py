"""The code mapping between FHIR codings and record items: data, validated at load.

The packaged ``codes.toml`` holds the standard codes; a site extends it with a
file of the same form for its local codes (see ``docs/fhir.md``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from os import PathLike
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel

from ..errors import FbssPathwayError
from ..record import OperationKind, PatientRecord, TreatmentKind

__all__ = [
    "COMPOSITE_ITEMS",
    "DATE_ITEMS",
    "LOCAL_SYSTEM",
    "RED_FLAG_ITEMS",
    "SCALAR_ITEMS",
    "CodeEntry",
    "CodeMap",
    "CodeMapError",
    "base_type",
]

#: This library's own code system: the code is a record field path.
LOCAL_SYSTEM = "urn:fbss-pathway:item"
#: Extensions carrying treatment details FHIR has no element for.
EXTENSION = "urn:fbss-pathway:extension:"
#: ICD-10 code systems: codes compare without their dot ("M96.1" is "M961").
_ICD_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"})

_SYSTEM_NAMES = {
    "http://loinc.org": "LOINC",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://snomed.info/sct": "SNOMED CT",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "http://www.whocc.no/atc": "ATC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}
_SECTIONS = ("pain", "findings", "red_flags", "psychosocial", "examination", "scs", "medicines")
_TOP_LEVEL = ("age_years", "in_fitness_programme", "oswestry_disability_index", "surgical_opinion")


def base_type(annotation: Any) -> tuple[Any, bool]:
    """(the type under Optional, Annotated and list, whether it is a list) of a field."""
    repeats = False
    while True:
        origin = get_origin(annotation)
        if origin in (Union, UnionType, Annotated):
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        elif origin is list:
            repeats, annotation = True, get_args(annotation)[0]
        else:
            return annotation, repeats


def _is_model(annotation: Any) -> bool:
    base = base_type(annotation)[0]
    return isinstance(base, type) and issubclass(base, BaseModel)


#: Items with a reader of their own (groups and lists), not one Observation each.
_READ_ELSEWHERE = frozenset({"medicines.opioids"})
#: Groups whose items are read one by one, each an item of its own
#: (``psychosocial.factors.secondary_gain``): the eight psychosocial factors (7.2).
_ITEM_BY_ITEM = frozenset({"psychosocial.factors"})


def _section_items(composite: bool) -> dict[str, Any]:
    """Every section item by path: single values, or (composite) items that are models."""
    fields = PatientRecord.model_fields
    items: dict[str, Any] = {}
    if not composite:
        items.update({name: fields[name].annotation for name in _TOP_LEVEL})
    for section in _SECTIONS:
        model = fields[section].annotation
        for name, info in model.model_fields.items():  # type: ignore[union-attr]
            if f"{section}.{name}" in _READ_ELSEWHERE:
                continue
            if f"{section}.{name}" in _ITEM_BY_ITEM:
                group = info.annotation.model_fields
                if not composite:
                    items.update(
                        {f"{section}.{name}.{sub}": g.annotation for sub, g in group.items()}
                    )
                continue
            if _is_model(info.annotation) == composite:
                items[f"{section}.{name}"] = info.annotation
    return items


#: The record items an Observation or Condition can set.
SCALAR_ITEMS: Mapping[str, Any] = _section_items(composite=False)
#: Items that are small models of their own (the suicide-risk assessment: date and outcome).
COMPOSITE_ITEMS: Mapping[str, Any] = _section_items(composite=True)
#: The yes/no red flags (``red_flags.screened_on`` is the screen's date, not a flag).
RED_FLAG_ITEMS = frozenset(
    item
    for item, annotation in SCALAR_ITEMS.items()
    if item.startswith("red_flags.") and base_type(annotation)[0] is bool
)
#: Items that are dates.
DATE_ITEMS = frozenset(
    item for item, annotation in SCALAR_ITEMS.items() if base_type(annotation)[0] is date
)

Kind = Literal["observation", "condition", "procedure", "medication", "medicine"]


class CodeMapError(FbssPathwayError, ValueError):
    """A code mapping file is not valid; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One coding and what it means for the record."""

    kind: Kind
    system: str
    code: str
    source: str
    prefix: bool = False
    item: str | None = None
    body_site: str | None = None
    operation: OperationKind | None = None
    treatment: TreatmentKind | None = None
    opioid: bool | None = None
    context: bool = False
    name: str | None = None
    answers: tuple[tuple[str, Any], ...] = ()
    """Observations: coded answers and the value each stands for (LOINC LA6568-5 is 0)."""

    def answer(self, value: Any) -> Any:
        """The value a coded answer stands for; any other value as it is."""
        for code, meant in self.answers:
            if value == code:
                return meant
        return value

    def matches(self, system: str | None, code: str | None, display: str | None = None) -> bool:
        """Whether a coding is this entry's: by code, or (medications) by ingredient name."""
        if system != self.system:
            return False
        if code and self.code:
            mine, theirs = (
                (_icd(self.code), _icd(code)) if system in _ICD_SYSTEMS else (self.code, code)
            )
            if theirs.startswith(mine) if self.prefix else theirs == mine:
                return True
        return bool(self.name and display and _names(self.name, display))


def _icd(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _names(name: str, display: str) -> bool:
    """Whether an ingredient name stands as a whole word in a drug's name, any case."""
    return re.search(rf"(?<![a-z]){re.escape(name)}(?![a-z])", display.lower()) is not None


class CodeMap:
    """The codings the FHIR reader understands and the writer uses."""

    def __init__(self, entries: tuple[CodeEntry, ...]) -> None:
        self.entries = entries
        self._index: dict[tuple[str, str], list[CodeEntry]] = {}
        for entry in entries:  # in order: a site's entries stay first
            self._index.setdefault((entry.kind, entry.system), []).append(entry)
        # What each coding seen matched: a chart repeats its codings, and the mapping
        # never changes. Bounded (emptied when full), since codings come from outside.
        self._found: dict[tuple[str, str, str | None, str | None], tuple[CodeEntry, ...]] = {}

    @classmethod
    def default(cls) -> CodeMap:
        """The packaged standard codes, and the medicine classes (``medicines.toml``)."""
        package = resources.files("fbss_pathway.fhir")
        codes = _read(Path(str(package.joinpath("codes.toml"))))
        medicines = _read_medicines(Path(str(package.joinpath("medicines.toml"))))
        return cls((*codes, *medicines))

    def extended(self, path: str | PathLike[str]) -> CodeMap:
        """These codes plus a site's file; the site's entries are tried first."""
        return CodeMap((*_read(Path(path)), *self.entries))

    def find(
        self, kind: Kind, system: str | None, code: str | None, display: str | None = None
    ) -> tuple[CodeEntry, ...]:
        """The entries of ``kind`` matching a coding, site entries first.

        ``display`` is consulted only by medication entries that name an ingredient.
        """
        if system is None:
            return ()
        key = (kind, system, code, display)
        found = self._found.get(key)
        if found is None:
            candidates = self._index.get((kind, system), ())
            found = tuple(entry for entry in candidates if entry.matches(system, code, display))
            if len(system) + len(code or "") + len(display or "") <= _LONGEST_REMEMBERED:
                if len(self._found) >= _MOST_REMEMBERED:
                    self._found.clear()
                self._found[key] = found
        return found

    def markdown(self) -> str:
        """The codes as a Markdown table with their sources (docs/fhir.md embeds it)."""
        rows = ["| resource | system | code | sets | source |", "|---|---|---|---|---|"]
        for entry in self.entries:
            code = f"`{entry.code}{'*' if entry.prefix else ''}`" if entry.code else ""
            if entry.name:
                code = f"{code} name `{entry.name}`".strip()
            if entry.kind == "medication":
                sets = "analgesics (opioid)" if entry.opioid else "analgesics"
            elif entry.kind == "medicine":
                sets = f"{entry.item} (in current use)"
            elif entry.operation or entry.treatment:
                sets = f"operation {entry.operation}" if entry.operation else f"{entry.treatment}"
            else:
                sets = entry.item or "context: read, sets no item"
            if entry.body_site:
                sets += f", body site {entry.body_site}"
            system = _SYSTEM_NAMES.get(entry.system, entry.system)
            rows.append(f"| {entry.kind} | {system} | {code} | {sets} | {entry.source} |")
        return "\n".join(rows) + "\n"

    def first(self, kind: Kind, **wanted: Any) -> CodeEntry | None:
        """The first entry of ``kind`` whose attributes equal ``wanted`` (for writing)."""
        for entry in self.entries:
            if entry.kind == kind and all(getattr(entry, k) == v for k, v in wanted.items()):
                return entry
        return None


#: How many codings' matches a mapping remembers before it starts afresh, and the
#: longest coding (system, code and display together, in characters) it remembers:
#: codings come from outside, and remembering long ones could hold much memory.
_MOST_REMEMBERED = 4096
_LONGEST_REMEMBERED = 512

_KEYS = {
    "observation": {"system", "code", "item", "body_site", "source", "prefix", "answers"},
    "condition": {"system", "code", "item", "context", "source", "prefix"},
    "procedure": {"system", "code", "operation", "treatment", "source", "prefix"},
    "medication": {"system", "code", "name", "treatment", "opioid", "source", "prefix"},
    "medicine": {"system", "code", "name", "item", "source", "prefix"},
}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
_CLASS_KEYS = {"item", "list", "atc", "ingredients"}


def _read(path: Path) -> Iterator[CodeEntry]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CodeMapError(f"{path.name}: cannot read the code mapping ({error})") from error
    problems: list[str] = []
    entries: list[CodeEntry] = []
    for kind, listed in data.items():
        if kind not in _KEYS or not isinstance(listed, list):
            problems.append(f"{path.name}: unknown table [[{kind}]]")
            continue
        for number, raw in enumerate(listed, start=1):
            where = f"{path.name}: [[{kind}]] #{number}"
            unknown = set(raw) - _KEYS[kind]
            if unknown:
                problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
                continue
            try:
                entries.append(_entry(cast(Kind, kind), raw))
            except (KeyError, ValueError, TypeError) as error:
                problems.append(f"{where}: {error}")
    if problems:
        raise CodeMapError("\n".join(problems))
    return iter(entries)


def _read_medicines(path: Path) -> Iterator[CodeEntry]:
    """The medicine classes: a table per class, its ATC groups and RxNorm ingredients."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CodeMapError(f"{path.name}: cannot read the medicine classes ({error})") from error
    problems: list[str] = []
    entries: list[CodeEntry] = []
    for name, table in data.items():
        where = f"{path.name}: [{name}]"
        if not isinstance(table, dict) or set(table) - _CLASS_KEYS:
            problems.append(f"{where}: a class holds item, list, atc and ingredients only")
            continue
        item = table.get("item")
        rows = [
            *(
                {
                    "system": ATC,
                    "code": atc.get("code"),
                    "source": atc.get("source"),
                    "prefix": not atc.get("exact", False),
                }
                for atc in table.get("atc", [])
            ),
            *(
                {
                    "system": RXNORM,
                    "name": ingredient.get("name"),
                    "source": ingredient.get("source"),
                    **({"code": ingredient["rxcui"]} if "rxcui" in ingredient else {}),
                }
                for ingredient in table.get("ingredients", [])
            ),
        ]
        for number, row in enumerate(rows, start=1):
            try:
                entries.append(_entry("medicine", {**row, "item": item}))
            except (KeyError, ValueError, TypeError, AttributeError) as error:
                problems.append(f"{where} #{number}: {error}")
    if problems:
        raise CodeMapError("\n".join(problems))
    return iter(entries)


def _entry(kind: Kind, raw: dict[str, Any]) -> CodeEntry:
    # an ingredient matched by name may lack a code
    named = kind in ("medication", "medicine") and "name" in raw
    for key in ("system", "source") if named else ("system", "code", "source"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ValueError(f"{key} must be a non-empty string")
    if "name" in raw and (not isinstance(raw["name"], str) or not raw["name"].islower()):
        raise ValueError("name must be an ingredient name in lower case")
    entry = CodeEntry(
        kind=kind,
        system=raw["system"],
        code=raw.get("code", ""),
        source=raw["source"],
        prefix=bool(raw.get("prefix", False)),
        item=raw.get("item"),
        body_site=raw.get("body_site"),
        operation=OperationKind(raw["operation"]) if "operation" in raw else None,
        treatment=TreatmentKind(raw["treatment"]) if "treatment" in raw else None,
        opioid=raw.get("opioid"),
        context=bool(raw.get("context", False)),
        name=raw.get("name"),
        answers=_answers(raw.get("answers", {})),
    )
    if (
        kind in ("observation", "condition")
        and not entry.context
        and entry.item not in SCALAR_ITEMS
    ):
        raise ValueError(f"item {entry.item!r} is not a record item")
    if kind == "condition" and entry.item is not None and SCALAR_ITEMS[entry.item] != bool | None:
        raise ValueError(f"item {entry.item!r} is not a yes/no item a condition can set")
    if kind == "procedure" and (entry.operation is None) == (entry.treatment is None):
        raise ValueError("a procedure sets exactly one of operation and treatment")
    if kind == "medication" and entry.treatment is not TreatmentKind.ANALGESICS:
        raise ValueError("medications map to the analgesics treatment")
    item = entry.item or ""
    if kind == "medicine" and (
        not item.startswith("medicines.")
        or item.endswith("_can_pause")
        or SCALAR_ITEMS.get(item) != bool | None
    ):
        raise ValueError(f"item {entry.item!r} is not a medicine class (medicines.<name>)")
    return entry


def _answers(raw: Any) -> tuple[tuple[str, Any], ...]:
    if not isinstance(raw, dict):
        raise ValueError("answers must be a table of answer code = value")
    return tuple(sorted(raw.items()))
