"""JSON text is read with msgspec, and must be read exactly as Python's json.loads reads it."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fbss_pathway.cds_hooks.calls import json_response
from fbss_pathway.json_text import parse_json

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats()  # NaN and the infinities included: Python writes and reads them
    | st.text()  # lone surrogates included: Python writes them escaped and reads them
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


def _outcome(read: Any, data: str | bytes) -> Any:
    """What reading gives: ('value', the value in a comparable form) or ('error', its kind)."""
    try:
        return ("value", _comparable(read(data)))
    except RecursionError:
        return ("error", "RecursionError")
    except ValueError:
        return ("error", "ValueError")


def _comparable(value: Any) -> Any:
    """NaN never equals itself; the type is part of the value (1 is not 1.0, True is not 1)."""
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    return (type(value).__name__, value)


@settings(max_examples=400)
@given(_VALUES, st.booleans())
def test_json_is_read_as_python_reads_it(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    data = text.encode("utf-8", "surrogatepass")
    assert _outcome(parse_json, data) == _outcome(json.loads, data)
    assert _outcome(parse_json, text) == _outcome(json.loads, text)  # text as well as bytes


_JSON_ISH = st.text(alphabet='{}[]",:0123456789.eE+-tfnulrsa\\ ').map(str.encode)


@settings(max_examples=400)
@given(st.binary(max_size=64) | _JSON_ISH)
def test_malformed_json_fails_as_python_fails(data: bytes) -> None:
    assert _outcome(parse_json, data) == _outcome(json.loads, data)


def test_the_edges_python_reads_differently_from_strict_json() -> None:
    for text in (
        b'{"a": NaN}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b"[" * 5000 + b"]" * 5000,  # too deep: RecursionError, as from Python
        b'{"a": ' + b"7" * 4301 + b"}",  # past Python's 4,300 digits: ValueError
        b'{"a": ' + b"7" * 4300 + b"}",  # within them: read exactly
        '{"a": 1}'.encode("utf-16"),  # Python detects UTF-16; msgspec reads UTF-8 only
        b'\xef\xbb\xbf{"a": 1}',
    ):
        assert _outcome(parse_json, text) == _outcome(json.loads, text), text[:20]


def test_answers_are_compact_utf8_json() -> None:
    response = json_response({"cards": [{"summary": "Ödem · 7/10", "n": 1.5}]})
    assert response.body == '{"cards":[{"summary":"Ödem · 7/10","n":1.5}]}'.encode()
    assert response.headers["content-type"] == "application/json"
