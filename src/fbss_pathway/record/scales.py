"""Scales and the base model shared by every part of the record.

Every clinical item may be *unknown* (``None``): not assessed is not the same as
"no". ``hide_input_in_errors`` keeps patient values out of validation errors.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["NRS", "NUMBER", "Flag", "Months", "Percent", "RecordPart", "Weeks", "item"]


def _two_decimals(value: float) -> float:
    """Keep measurements to 0.01: finer is noise, and it keeps numbers in plain notation.

    durable_rules 2.0.28 refuses some numbers written in exponent form (1e-05,
    1e+16); rounded, bounded values never need it.
    """
    return round(value, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def _not_a_flag(value: Any) -> Any:
    """Refuse a yes/no where a number belongs.

    pydantic reads ``True`` as the number 1: an EHR's mis-mapped flag would have
    become "leg pain 1/10", a silent wrong answer.
    """
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a number")
    return value


#: Every number of the record carries it (scores, percentages, durations, doses).
NUMBER = BeforeValidator(_not_a_flag)

NRS = Annotated[
    int,
    NUMBER,
    Field(ge=0, le=10, description="Numeric rating scale, 0 (none) to 10 (worst)."),
]
Percent = Annotated[float, NUMBER, Field(ge=0, le=100), AfterValidator(_two_decimals)]
Months = Annotated[float, NUMBER, Field(ge=0, le=1200), AfterValidator(_two_decimals)]
Weeks = Annotated[float, NUMBER, Field(ge=0, le=5200), AfterValidator(_two_decimals)]
Flag = bool | None


def item(description: str) -> Any:
    """An item that may be unknown (None, the default), with the description clinicians read."""
    return Field(default=None, description=description)


class RecordPart(BaseModel):
    """Base of every part of the record: closed, frozen, values kept out of errors."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        str_strip_whitespace=True,
    )


def without_values(error: ValidationError) -> ValidationError:
    """The same validation error with no input in it: each field, type and message kept.

    pydantic's ``errors()`` and ``json()`` carry every refused value as ``input`` (and,
    for a check across fields, the whole record); ``hide_input_in_errors`` hides them
    only from the text. Messages never hold values here (they name fields).
    """
    details: list[InitErrorDetails] = [
        {"type": PydanticCustomError(item["type"], item["msg"]), "loc": item["loc"], "input": None}
        for item in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    return ValidationError.from_exception_data(error.title, details, hide_input=True)
