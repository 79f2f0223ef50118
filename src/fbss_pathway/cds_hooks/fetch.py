"""Fetching what the EHR did not prefetch, from its FHIR server, within bounds.

When a prefetch key is missing or null and the call names ``fhirServer`` (with
``fhirAuthorization``), the service runs the key's query itself: the same
template, scoped to ``context.patientId``, with the access token, a timeout, a
size bound, and ``Bundle.link`` ``next`` pages followed up to a bound. A query
that fails, or whose answer is an OperationOutcome, is never read as "no data":
it is reported, so that the items stay unknown and the cards say so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_FETCH_BYTES", "MAX_PAGES", "Fetched", "fetch_missing"]

#: Bytes read from the FHIR server for one call, all queries together.
MAX_FETCH_BYTES = 20 * 1024 * 1024
#: Pages of one search followed through ``next`` links.
MAX_PAGES = 10
_TIMEOUT = 10.0


class _UnreadableError(Exception):
    """A query whose answer cannot be used; the message says why (no patient data)."""


@dataclass(slots=True)
class Fetched:
    """The prefetch completed from the FHIR server, and the keys that could not be read."""

    prefetch: dict[str, Any]
    unread: dict[str, str] = field(default_factory=dict)  # key -> reason


Opener = Callable[[urllib.request.Request, float], Any]


def fetch_missing(
    prefetch: Mapping[str, Any],
    templates: Mapping[str, str],
    *,
    fhir_server: str,
    access_token: str | None,
    patient_id: str,
    opener: Opener | None = None,
) -> Fetched:
    """Run the queries of the keys ``prefetch`` lacks (or holds as null) against the server."""
    opener = opener or _open
    result = Fetched(dict(prefetch))
    budget = [MAX_FETCH_BYTES]
    base = fhir_server.rstrip("/") + "/"
    for key, template in templates.items():
        if prefetch.get(key) is not None:
            continue
        query = template.replace("{{context.patientId}}", urllib.parse.quote(patient_id, safe=""))
        try:
            result.prefetch[key] = _query(base, query, access_token, opener, budget)
        except _UnreadableError as error:
            result.prefetch[key] = None
            result.unread[key] = str(error)
    return result


def _query(base: str, query: str, token: str | None, opener: Opener, budget: list[int]) -> Any:
    url = base + query
    answer = _get(url, token, opener, budget)
    if answer.get("resourceType") != "Bundle":
        return answer
    entries = list(_entries(answer))
    pages = 1
    while (following := _next(answer)) is not None:
        if pages >= MAX_PAGES:
            raise _UnreadableError(f"more than {MAX_PAGES} pages")
        url = urllib.parse.urljoin(url, following)
        if not url.startswith(base):  # the token goes only to the server the call named
            raise _UnreadableError("a next page outside the FHIR server")
        answer = _get(url, token, opener, budget)
        if answer.get("resourceType") != "Bundle":
            raise _UnreadableError("a page is not a Bundle")
        entries += _entries(answer)
        pages += 1
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _get(url: str, token: str | None, opener: Opener, budget: list[int]) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise _UnreadableError("the FHIR server is not an http(s) URL")
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener(request, _TIMEOUT) as response:
            body = response.read(budget[0] + 1)
    except urllib.error.HTTPError as error:
        raise _UnreadableError(f"the FHIR server answered {error.code}") from None
    except (OSError, ValueError):
        raise _UnreadableError("the FHIR server could not be reached") from None
    budget[0] -= len(body)
    if budget[0] < 0:
        raise _UnreadableError(f"the answers are larger than {MAX_FETCH_BYTES} bytes")
    try:
        answer = json.loads(body)
    except (RecursionError, ValueError):
        raise _UnreadableError("the FHIR server's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise _UnreadableError("the FHIR server's answer is not a resource")
    if answer.get("resourceType") == "OperationOutcome":
        raise _UnreadableError("the FHIR server answered with an OperationOutcome")
    return answer


def _entries(bundle: Mapping[str, Any]) -> list[Any]:
    listed = bundle.get("entry") or []
    if not isinstance(listed, list):
        raise _UnreadableError("a search result's entry is not an array")
    # A search may include OperationOutcomes (search mode "outcome"): they are not data.
    return [
        entry
        for entry in listed
        if not (isinstance(entry, dict) and (entry.get("search") or {}).get("mode") == "outcome")
    ]


def _next(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: urllib would send the access token along to any host."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _open(request: urllib.request.Request, timeout: float) -> Any:
    return _OPENER.open(request, timeout=timeout)  # http(s) only: checked in _get
