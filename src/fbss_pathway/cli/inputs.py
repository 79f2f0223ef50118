"""What the commands read: record and bundle files, and the bundled examples."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from ..recommendation import Recommendation
from ..ruleset import RuleSet

__all__ = [
    "InputError",
    "evaluate_bundle",
    "example_paths",
    "field_errors",
    "read_bytes",
    "read_json",
    "recommend_file",
]


def example_paths() -> list[Path]:
    """The bundled example patients, one or more per stage, in name order.

    The same patients as FHIR bundles are installed beside them, in ``examples/fhir``.
    """
    folder = Path(str(resources.files("fbss_pathway").joinpath("examples", "patients")))
    return sorted(folder.glob("*.json"))


def field_errors(error: ValidationError) -> str:
    """A validation error as lines naming each field (never the values)."""
    lines = [f"the record is not valid ({error.error_count()} problem(s)):"]
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(record)"
        lines.append(f"  - {where}: {item['msg']}")
    return "\n".join(lines)


class InputError(Exception):
    """An input the command cannot use; the message says why (never the data)."""


def read_bytes(path: str) -> bytes:
    """A file's bytes, or stdin's for -."""
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None


def read_json(path: str) -> Any:
    """The JSON in a file (or stdin for -); InputError for anything that is not plain JSON."""
    raw = read_bytes(path)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path} is not JSON (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise InputError(f"{path} is nested too deeply to be a record or a bundle") from None
    except ValueError:  # e.g. an integer of thousands of digits
        raise InputError(f"{path} holds a number too large to read") from None


def evaluate_bundle(
    data: dict[str, Any], ruleset: RuleSet, *, said: TextIO | None = None
) -> Recommendation | None:
    """A FHIR Bundle read with the safety rules of docs/fhir.md; None when out of scope.

    Why a patient is outside the pathway is an answer, printed to ``said``
    (standard output by default).
    """
    from ..fhir import read_bundle

    reading = read_bundle(data)
    for item in reading.ignored:
        named = (
            item.resource if item.resource.startswith(item.resource_type) else item.resource_type
        )
        print(f"ignored: entry[{item.entry}] {named}: {item.reason}", file=sys.stderr)
    recommendation = reading.evaluate(ruleset=ruleset)
    if recommendation is None:
        print(
            "outside the PSPS type 2 (FBSS) pathway: " + "; ".join(reading.not_applicable),
            file=sys.stdout if said is None else said,
        )
    return recommendation


def recommend_file(
    path: str, ruleset: RuleSet, *, said: TextIO | None = None
) -> Recommendation | None:
    """The recommendation for a record or FHIR Bundle file; None when out of scope (said).

    ``said``: where to say why a patient is outside the pathway (standard output).

    Raises:
        InputError: the file is not a record or bundle (naming fields, never values).
    """
    from ..evaluation import evaluate

    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError("the record must be a JSON object")
    try:
        if data.get("resourceType") == "Bundle":
            return evaluate_bundle(data, ruleset, said=said)
        return evaluate(data, ruleset=ruleset)
    except ValidationError as error:
        raise InputError(field_errors(error)) from None
