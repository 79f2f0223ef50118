"""What arrives at the service and what leaves it: bounded bodies, JSON, OperationOutcomes.

A call's body is read up to a limit (413 past it), must be ``application/json``
(415 otherwise) and must parse as a JSON object; JSON nested too deeply or
holding an integer too long to read is a 400, never a 500. Every error answer
is a FHIR OperationOutcome whose text names the problem, never the input.

JSON is read with :func:`fbss_pathway.json_text.parse_json` (msgspec, with
exactly ``json.loads``'s answers) and written with msgspec (a tenth of the time
of Python's writer).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..json_text import parse_json

__all__ = [
    "DEFAULT_MAX_BODY",
    "RefusedCallError",
    "json_response",
    "outcome",
    "read_call",
    "safe_id",
]

#: The largest request body read, in bytes (a large chart's prefetch is a few MB).
DEFAULT_MAX_BODY = 5 * 1024 * 1024
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class RefusedCallError(Exception):
    """A call answered with an error; carries the status and the OperationOutcome's text."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)

    def response(self) -> Response:
        """The OperationOutcome to send."""
        return outcome(self.status, self.code, self.message)


def outcome(status: int, code: str, message: str) -> Response:
    """An error as a FHIR OperationOutcome."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return json_response(body, status=status, media_type="application/fhir+json")


def json_response(
    body: Any, *, status: int = 200, media_type: str = "application/json"
) -> Response:
    """A JSON answer (compact UTF-8, as Starlette's JSONResponse writes it)."""
    return Response(_ENCODER.encode(body), status_code=status, media_type=media_type)


async def read_call(request: Request, max_body: int) -> dict[str, Any]:
    """The JSON object a call posted; RefusedCallError for anything else."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise RefusedCallError(415, "not-supported", "the request body must be application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise RefusedCallError(
            413, "too-costly", f"the request body is larger than {max_body} bytes"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise RefusedCallError(
                413, "too-costly", f"the request body is larger than {max_body} bytes"
            )
        chunks.append(chunk)
    request.state.body_size = size  # the service decides by it where to compute
    try:
        body = parse_json(b"".join(chunks))
    except RecursionError:
        raise RefusedCallError(400, "invalid", "the request body is nested too deeply") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, an integer too long to read
        raise RefusedCallError(400, "invalid", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RefusedCallError(400, "invalid", "the request body must be a JSON object")
    return body


_ENCODER = msgspec.json.Encoder()


def safe_id(value: Any) -> str:
    """An identifier fit for a log: a UUID as sent, anything else only as '(not a UUID)'.

    Hook instances and card ids are UUIDs; anything else may carry patient data
    or forge log lines, so it is never written.
    """
    return value.lower() if isinstance(value, str) and _UUID.match(value) else "(not a UUID)"
