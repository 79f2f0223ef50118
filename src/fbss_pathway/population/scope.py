"""The first pass of a screen: who may be in the pathway's scope, found without reading charts.

The pathway is for adults with a completed lumbar spine operation who have not
died (:func:`fbss_pathway.fhir.read_bundle` says "not applicable" otherwise). In
a health system's export nearly everyone has never been operated on, and their
charts are nearly all of its lines. So before any chart is read, small tasks
read the Patient, Procedure and QuestionnaireResponse files, a few elements of
each line (decoded by msgspec into a small struct: the rest of the resource is
skipped at C speed), and name the **candidates**:

- a patient with a Procedure any of whose codings the code mapping reads as an
  operation (:func:`fbss_pathway.fhir.operations.may_name_operation`; any status
  or date: a superset of the operations the reader counts);
- a patient with any QuestionnaireResponse (the form records operations);
- a patient whose age a chart could change: a Patient without a full birth date
  (the age then comes from age Observations), or seen in more than one Patient
  resource (copies may disagree; the reader then leaves the birth date unknown).

A Procedure's ``code`` is kept as written (``msgspec.Raw``) and the answer of
``may_name_operation`` is kept per code as written: an export's procedures
repeat a few thousand codes, so most lines are decided without building one.

Everyone else is read from their Patient resources alone, which gives the row a
full read gives (no operation; the age from the birth date; died or not). Patients
are named by a 64-bit hash of their id (:func:`patient_hash`) so that tasks can
hand the driver every Patient's hash to find ids seen twice; a hash shared by
chance only makes one more candidate, and a candidate is read in full, as before.
"""

from __future__ import annotations

import itertools
import zlib
from array import array
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec

from ..fhir.codes import CodeMap
from ..fhir.operations import may_name_operation
from ..fhir.reading import default_codes
from ..json_text import parse_json
from .blocks import FileLimits, read_lines
from .export import patient_of
from .ranges import Span

__all__ = [
    "SCOPE_TYPES",
    "ScopeFound",
    "candidates_of",
    "decode_key",
    "patient_hash",
    "scope_span",
]

#: The resource types whose files say who may be in scope.
SCOPE_TYPES = frozenset({"Patient", "Procedure", "QuestionnaireResponse"})


class _Key(msgspec.Struct, gc=False):
    """The elements that say whose a resource is; every other element is skipped unbuilt."""

    resourceType: Any = None  # noqa: N815 - FHIR's element names
    id: Any = None
    subject: Any = None
    patient: Any = None


class _ScopeKey(_Key, gc=False):
    """Also the elements that say whether a patient may be in scope."""

    code: Any = None
    birthDate: Any = None  # noqa: N815


class _WrittenScopeKey(_Key, gc=False):
    """The scope elements, with ``code`` as written (its bytes), decoded only if new."""

    code: msgspec.Raw = msgspec.Raw(b"")
    birthDate: Any = None  # noqa: N815


_KEY = msgspec.json.Decoder(_Key)
_SCOPE_KEY = msgspec.json.Decoder(_ScopeKey)
_WRITTEN_SCOPE_KEY = msgspec.json.Decoder(_WrittenScopeKey)
_ANY = msgspec.json.Decoder()
#: Codes as written whose answer is kept, per task (a bound on memory).
_KEPT_CODES = 10_000
_KEY_FIELDS = ("resourceType", "id", "subject", "patient")
_SCOPE_FIELDS = (*_KEY_FIELDS, "code", "birthDate")


def decode_key(line: bytes, *, scope: bool = False) -> dict[str, Any] | None:
    """The elements of a resource line that say whose it is; None if not a JSON resource.

    With ``scope``, also its ``code`` and ``birthDate``.

    A line msgspec's typed decode refuses is read by :func:`.json_text.parse_json`,
    whose answers are ``json.loads``'s, before it is called malformed.
    """
    if not line:
        return None  # longer than the bound: never parsed
    names = _SCOPE_FIELDS if scope else _KEY_FIELDS
    try:
        decoded = (_SCOPE_KEY if scope else _KEY).decode(line)
        found = {
            "resourceType": decoded.resourceType,
            "id": decoded.id,
            "subject": decoded.subject,
            "patient": decoded.patient,
        }
        if scope:
            found["code"] = decoded.code  # type: ignore[attr-defined]
            found["birthDate"] = decoded.birthDate  # type: ignore[attr-defined]
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
        try:
            parsed = parse_json(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(parsed, dict):
            return None
        found = {name: parsed.get(name) for name in names}
    return found if isinstance(found["resourceType"], str) else None


def patient_hash(patient_id: str | bytes) -> int:
    """A 64-bit hash of a patient id, the same in every process."""
    raw = patient_id
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    return zlib.crc32(raw) << 32 | zlib.adler32(raw)


@dataclass(slots=True)
class ScopeFound:
    """What one span of a Patient, Procedure or QuestionnaireResponse file says."""

    file: str
    patients: int = 0
    patient_bytes: int = 0
    #: Hashes of the ids of every Patient resource (to find ids seen twice), as array("Q").
    patient_hashes: bytes = b""
    candidates: set[int] = field(default_factory=set)


def scope_span(span: Span, limits: FileLimits | None = None) -> ScopeFound:
    """The candidates one span of a scope file names (see the module's docstring)."""
    found = ScopeFound(span.file.path.name)
    operations = _Operations(default_codes())
    hashes = array("Q")
    place = None if span.end is None and span.start == 0 else (span.start, span.end)
    for _, line in read_lines(span.file.path, limits, place):
        read = operations.scope_key(line)
        if read is None:
            continue  # malformed: counted when the file is split
        resource, operation = read
        kind = resource["resourceType"]
        if kind not in SCOPE_TYPES:
            continue
        patient = patient_of(resource)
        if patient is None:
            continue
        key = patient_hash(patient)
        if kind == "Patient":
            found.patients += 1
            found.patient_bytes += len(line)
            hashes.append(key)
            if not _full_birth_date(resource["birthDate"]):
                found.candidates.add(key)
        elif kind == "QuestionnaireResponse" or operation:
            found.candidates.add(key)
    found.patient_hashes = hashes.tobytes()
    return found


class _Operations:
    """A scope line's elements, and whether a Procedure may name an operation, by its code."""

    def __init__(self, codes: CodeMap) -> None:
        self._codes = codes
        self._answers: dict[bytes, bool] = {}  # by the code as written

    def scope_key(self, line: bytes) -> tuple[dict[str, Any], bool] | None:
        """``decode_key(line, scope=True)``, and ``may_name_operation`` of a Procedure's code.

        Decoded with the code as written; a code not seen before is decoded alone,
        as the line's decode would (a code msgspec refuses, or a line: the line is
        read by :func:`decode_key`, msgspec then Python's reader, as before).
        """
        try:
            decoded = _WRITTEN_SCOPE_KEY.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
            return self._as_before(line)
        found = {name: getattr(decoded, name) for name in _KEY_FIELDS}
        found["birthDate"] = decoded.birthDate
        if not isinstance(found["resourceType"], str):
            return None
        if found["resourceType"] != "Procedure":
            return found, False
        written = bytes(decoded.code)
        answer = self._answers.get(written)
        if answer is None:
            try:
                code = _ANY.decode(written) if written else None
            except (msgspec.DecodeError, RecursionError, ValueError):
                return self._as_before(line)
            answer = may_name_operation(code, self._codes)
            if len(self._answers) < _KEPT_CODES:
                self._answers[written] = answer
        return found, answer

    def _as_before(self, line: bytes) -> tuple[dict[str, Any], bool] | None:
        resource = decode_key(line, scope=True)
        if resource is None:
            return None
        procedure = resource["resourceType"] == "Procedure"
        return resource, procedure and may_name_operation(resource["code"], self._codes)


def candidates_of(found: list[ScopeFound]) -> frozenset[int]:
    """The candidates the spans name, with every patient seen in more than one Patient."""
    candidates: set[int] = set()
    hashes = array("Q")
    for part in found:
        candidates |= part.candidates
        hashes.frombytes(part.patient_hashes)
    ordered = sorted(hashes)
    candidates.update(a for a, b in itertools.pairwise(ordered) if a == b)
    return frozenset(candidates)


def _full_birth_date(value: Any) -> bool:
    """Whether a birthDate names a valid day (what the reader's age is taken from)."""
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
