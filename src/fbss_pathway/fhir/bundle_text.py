"""A bundle's JSON text, read without building the resources the reader never reads.

Most of a real chart is Claim, ExplanationOfBenefit, Encounter and other types
the pathway never reads (in Synthea's charts Claim and ExplanationOfBenefit are
half the bytes), yet parsing the whole text into dictionaries built every one
of them. Here msgspec decodes the bundle into typed entries whose resources
stay bytes (``msgspec.Raw``: scanned, not built), then reads from each, with a
small typed decode, only what the reader looks at before deciding to read a
resource: its ``resourceType``, ``id``, ``subject``, ``code`` and
``medicationCodeableConcept``. The resource itself is built when the reader
first asks for it (:class:`.RawEntry`): the Patient, and the resources of the
types it reads whose codes the mapping knows (never a Claim, nor a routine
vital sign), and copies of one id when they are compared.

The result is what reading the parsed text gives, to the entry, the error and
the order of the errors; whatever this path is not sure to read exactly as
Python's ``json.loads`` does goes the usual way (:func:`.entries.load`): text
msgspec refuses, bytes that are not strict UTF-8 (msgspec does not check the
UTF-8 of strings it skips), a run of digits near Python's integer limit, a
bundle or entry of the wrong shape. (One difference remains, at Python's
recursion limit: text nested within a few levels of it that also holds a number
past the float range, which msgspec refuses and ``json.loads`` reads, went
whole to ``json.loads``, whose limit is a few levels lower, and was refused as
nested too deeply; here it is read, as the same bundle parsed first is.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

import msgspec

from .entries import RawEntry, load, parsed, raw_entries
from .errors import FhirError

__all__ = ["bundle_entries"]

_REFUSED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError)
_NULL = msgspec.Raw(b"null")
_OBJECT = ord("{")  # a Raw value starts at its first character, never at white space


class _Entry(msgspec.Struct):
    """A Bundle.entry as read: the resource left as its bytes (empty when absent)."""

    resource: msgspec.Raw = msgspec.Raw()
    fullUrl: Any = None  # noqa: N815 (FHIR's name)


class _Bundle(msgspec.Struct):
    """The elements of a Bundle the reader reads."""

    resourceType: Any = None  # noqa: N815 (FHIR's name)
    timestamp: Any = None
    entry: list[_Entry] | None = None


class _Head(msgspec.Struct):
    """What the reader looks at in every resource before deciding to read it."""

    resourceType: Any = None  # noqa: N815 (FHIR's name)
    id: Any = None
    subject: Any = None
    code: Any = None
    medicationCodeableConcept: Any = None  # noqa: N815 (FHIR's name)


_BUNDLE = msgspec.json.Decoder(_Bundle)
_DIGITS = re.compile(r"[0-9]+")
_DIGITS_BYTES = re.compile(rb"[0-9]+")
_HEAD = msgspec.json.Decoder(_Head)


def bundle_entries(bundle: Mapping[str, Any] | str | bytes) -> tuple[list[RawEntry], Any]:
    """The entries that hold a resource (in order) and the bundle's ``timestamp`` as given.

    Raises:
        FhirError: the bundle is malformed (as :func:`.entries.load` and
            :func:`.entries.raw_entries` say it).
    """
    if isinstance(bundle, str | bytes):
        read = _from_text(bundle)
        if read is not None:
            return read
    data = load(bundle)
    return list(raw_entries(data)), data.get("timestamp")


def _from_text(text: str | bytes) -> tuple[list[RawEntry], Any] | None:
    """The entries of a bundle's text; None when the text must be read the usual way."""
    if isinstance(text, bytes):
        try:
            text.decode()  # strict UTF-8, or Python's reader decides (it accepts more)
        except UnicodeDecodeError:
            return None
    if _long_digit_run(text):
        return None
    try:
        bundle = _BUNDLE.decode(text)
    except _REFUSED:
        return None
    if bundle.resourceType != "Bundle":
        return None
    entries = []
    head = _HEAD.decode
    for number, entry in enumerate(bundle.entry or ()):
        raw = entry.resource
        full_url = entry.fullUrl if isinstance(entry.fullUrl, str) else None
        try:
            found = head(raw)
        except _REFUSED:  # no resource, not an object, or a value msgspec refuses
            resource = _resource(number, raw)
            if resource is not None:
                entries.append(RawEntry.of(number, full_url, resource))
            continue
        elements = (found.subject, found.code, found.medicationCodeableConcept)
        entries.append(RawEntry(number, full_url, raw, found.resourceType, found.id, elements))
    return entries, bundle.timestamp


def _resource(number: int, raw: msgspec.Raw) -> Mapping[str, Any] | None:
    """An entry's resource built, or None when it has none; FhirError when not an object."""
    if not raw or raw == _NULL:  # no resource (a search outcome, a deleted entry)
        return None
    if memoryview(raw)[0] != _OBJECT:
        raise FhirError(f"entry[{number}] resource: must be an object")
    resource: Mapping[str, Any] = parsed(bytes(raw))  # a number past the float range, say
    return resource


def _long_digit_run(text: str | bytes) -> bool:
    """Whether the text may hold an integer too long for Python (its ``int_max_str_digits``).

    msgspec skips such a number in a resource it does not build, where Python's reader
    refuses the whole text. A run of more than ``limit`` digits holds one of the points
    checked here within ``limit // 2`` of its start, from which more than ``limit // 2``
    digits follow: a handful of checks a chart, and some runs shorter than the limit
    (in strings too) sent the usual way, which reads them right.
    """
    limit = sys.get_int_max_str_digits()
    if not limit:
        return False
    step = limit // 2
    starts = range(0, len(text), step)
    if isinstance(text, bytes):
        in_bytes = _DIGITS_BYTES.match
        return any((run := in_bytes(text, at)) and run.end() - at > step for at in starts)
    in_text = _DIGITS.match
    return any((found := in_text(text, at)) and found.end() - at > step for at in starts)
