"""The raw side of reading a bundle: parsing with bounds, whose patient, validation per resource.

A bundle is walked as plain JSON; only the resources the mapping reads are
validated, one at a time and only in the elements the reader reads
(:mod:`.shapes`), so that a chart of 10,000 entries costs what its few
relevant entries cost. Everything that can go
wrong with the input becomes a :class:`FhirError` naming the entry, the
resource type and the element, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, cast

import msgspec
from pydantic import TypeAdapter, ValidationError

from ..json_text import parse_json
from .errors import FhirError

__all__ = ["RawEntry", "codings", "load", "parsed", "raw_entries", "type_name", "validate"]

Shape = TypeVar("Shape")
_DECODER = msgspec.json.Decoder()
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
#: The types met so far (up to 1,024 short texts), each as read: a chart repeats a few dozen.
_NAMES: dict[str, str] = {}


def load(bundle: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    """The bundle as a mapping; JSON text is parsed with Python's bounds turned into FhirError."""
    if isinstance(bundle, str | bytes):
        bundle = parsed(bundle)
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise FhirError("expected a FHIR Bundle (resourceType 'Bundle')")
    return bundle


def parsed(text: str | bytes) -> Any:
    """The JSON value of ``text`` (as ``json.loads`` gives it); its errors as FhirError."""
    try:
        return parse_json(text)
    except RecursionError as error:
        raise FhirError("the bundle is nested too deeply to be FHIR") from error
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise FhirError("the bundle is not valid JSON") from error


class RawEntry:
    """One entry of the bundle, before validation.

    ``resource`` is the resource as JSON values. An entry read from a bundle's text
    (:mod:`.bundle_text`) holds the resource's bytes and builds it only when first
    asked for, so that the resources the reader never reads (most of a chart) are
    never built. What the reader looks at in every entry before deciding to read it
    is given apart, as found (any JSON value, None when absent): its ``id``, and
    its ``subject``, ``code`` and ``medicationCodeableConcept``.
    """

    __slots__ = (
        "_label",
        "_resource",
        "code",
        "full_url",
        "ident",
        "medication",
        "number",
        "subject",
        "type",
    )
    _label: str | None
    _resource: Mapping[str, Any] | msgspec.Raw

    def __init__(
        self,
        number: int,
        full_url: str | None,
        resource: Mapping[str, Any] | msgspec.Raw,
        kind: Any,
        ident: Any,
        elements: tuple[Any, Any, Any],
    ) -> None:
        """``elements``: the resource's ``subject``, ``code`` and ``medicationCodeableConcept``."""
        self.number = number
        self.full_url = full_url
        self._label = None
        self._resource = resource
        self.type = type_name(number, kind)
        self.ident: Any = ident
        self.subject: Any
        self.code: Any
        self.medication: Any
        self.subject, self.code, self.medication = elements

    @classmethod
    def of(cls, number: int, full_url: str | None, resource: Mapping[str, Any]) -> RawEntry:
        """The entry of a resource already parsed."""
        get = resource.get
        elements = (get("subject"), get("code"), get("medicationCodeableConcept"))
        return cls(number, full_url, resource, get("resourceType"), get("id"), elements)

    def may_hold(self, key: str) -> bool:
        """Whether the resource may hold the element ``key``, without building it from text.

        For a resource still held as text, a byte search: it may say yes for a key
        that only appears inside a string (the caller then finds nothing), never no
        for one that is there.
        """
        resource = self._resource
        if type(resource) is msgspec.Raw:
            return f'"{key}"'.encode() in bytes(resource)
        return key in resource

    def part(self, resource: Mapping[str, Any]) -> RawEntry:
        """A part of this entry read as a resource of its own (an Observation's component).

        It keeps the entry's number and the name a clinician finds it by, so that
        what is read from it, or set aside, points at the resource that holds it.
        """
        get = resource.get
        elements = (get("subject"), get("code"), get("medicationCodeableConcept"))
        made = RawEntry(self.number, self.full_url, resource, self.type, self.ident, elements)
        made._label = self.label
        return made

    @property
    def resource(self) -> Mapping[str, Any]:
        """The resource as JSON values (built on first use for an entry read from text)."""
        resource = self._resource
        if type(resource) is msgspec.Raw:
            resource = self._resource = _built(resource)
        return resource

    @property
    def label(self) -> str:
        """The name a clinician can find the resource by (see :meth:`_name`), made once."""
        label = self._label
        if label is None:
            label = self._label = self._name()
        return label

    def _name(self) -> str:
        """The name a clinician can find the resource by in the EHR.

        ``Type/id`` when the resource has an id, else the entry's ``fullUrl``, else its
        position (``entry[3]``): a CDS Hooks service reads a bundle merged from several
        searches, whose positions nobody outside can map back.
        """
        ident = self.ident
        if isinstance(ident, str) and ident and len(ident) <= 64:
            return f"{self.type}/{ident}"
        if self.full_url and len(self.full_url) <= 256:
            return self.full_url
        return f"entry[{self.number}]"


def _built(raw: msgspec.Raw) -> Mapping[str, Any]:
    """A resource from its bytes, as :func:`parsed` gives it (msgspec, else Python's reader)."""
    try:
        built: Mapping[str, Any] = _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
        built = parsed(bytes(raw))
    return built


def type_name(number: int, kind: Any) -> str:
    """The resource type an entry is read as; FhirError when ``resourceType`` is no name."""
    try:
        return _NAMES[kind]
    except (KeyError, TypeError):  # TypeError: not hashable, so not a name either
        pass
    if not isinstance(kind, str) or not kind:
        raise FhirError(f"entry[{number}] resourceType: must be a resource type name")
    named = kind if _TYPE_NAME.match(kind) else "(not a resource type)"
    if len(_NAMES) < 1024 and len(kind) <= 64:
        _NAMES[kind] = named
    return named


def raw_entries(bundle: Mapping[str, Any]) -> Iterator[RawEntry]:
    """Every entry that holds a resource; a malformed entry raises FhirError naming it."""
    listed = bundle.get("entry")
    if listed is None:
        return
    if not isinstance(listed, list):
        raise FhirError("Bundle entry: must be an array")
    for number, entry in enumerate(listed):
        if type(entry) is not dict and not isinstance(entry, Mapping):
            raise FhirError(f"entry[{number}]: must be an object")
        resource = entry.get("resource")
        if resource is None:
            continue
        if type(resource) is not dict and not isinstance(resource, Mapping):
            raise FhirError(f"entry[{number}] resource: must be an object")
        full_url = entry.get("fullUrl")
        yield RawEntry.of(number, full_url if isinstance(full_url, str) else None, resource)


def validate(entry: RawEntry, shape: TypeAdapter[Shape]) -> Shape:
    """The entry's resource in the shape it is read with; FhirError names a wrong element."""
    try:  # the adapter's validator itself: one Python call less, for every entry read
        return cast(Shape, shape.validator.validate_python(entry.resource))
    except ValidationError as error:
        where = f"entry[{entry.number}] ({entry.type})"
        problems = error.errors(include_input=False, include_url=False)
        lines = [f"{where} is not valid FHIR R4 ({len(problems)} problem(s)):"]
        for problem in problems[:20]:
            element = ".".join(str(part) for part in problem["loc"]) or "(resource)"
            if len(element) > 120:  # nesting too deep to be FHIR (pydantic stops at ~255)
                element = element[:60] + " ... " + element[-40:]
            lines.append(f"  - {where} {element}: {problem['msg']}")
        raise FhirError("\n".join(lines)) from None


def codings(concept: Any) -> list[tuple[str | None, str | None, str | None]] | None:
    """(system, code, display) of a raw CodeableConcept; None when its shape is not FHIR's.

    Used to decide, before validating, whether the mapping reads a resource at all.
    """
    if concept is None:
        return []
    if type(concept) is not dict and not isinstance(concept, Mapping):
        return None
    listed = concept.get("coding")
    if listed is None:
        return []
    if not isinstance(listed, list):
        return None
    found = []
    for coding in listed:  # run for every entry of a chart: checks written out, no calls
        if type(coding) is not dict and not isinstance(coding, Mapping):
            return None
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if not (
            (system is None or isinstance(system, str))
            and (code is None or isinstance(code, str))
            and (display is None or isinstance(display, str))
        ):
            return None
        found.append((system, code, display))
    return found
