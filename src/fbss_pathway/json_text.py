"""Reading JSON text fast, with exactly the answers of Python's ``json.loads``.

Charts, prefetches and Bulk Data lines are large, and parsing them was a good
part of reading them. msgspec parses strict UTF-8 JSON in about half the time;
whatever it refuses (NaN and Infinity, a number past the float range, a lone
surrogate, another encoding such as UTF-16, nesting past its depth, malformed
text) is read again by Python's reader, so that every caller gets what
``json.loads`` would give: the same value (integers of any size up to Python's
4,300 digits kept exact), the same ``ValueError`` or the same ``RecursionError``.
The property tests in ``tests/test_json_text.py`` hold the two readers equal.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = ["parse_json"]

_DECODER = msgspec.json.Decoder()


def parse_json(text: str | bytes | bytearray) -> Any:
    """The JSON value of ``text``, value or error exactly as :func:`json.loads` gives it."""
    try:
        return _DECODER.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError):
        return json.loads(text)
