"""Fetching what the EHR did not prefetch, from its FHIR server, within bounds.

When a prefetch key is missing or null and the call names ``fhirServer`` (with
``fhirAuthorization``), the service runs the key's query itself: the same
template, scoped to ``context.patientId``, with the access token, and
``Bundle.link`` ``next`` pages followed up to a bound. Every request is bounded
as a whole (:data:`REQUEST_SECONDS` from connecting to its last byte, not per
read of the socket: a server sending a byte now and then cannot hold a call), the
requests of one call together (:data:`CALL_SECONDS`, :data:`MAX_FETCH_BYTES`);
no redirect is followed. A query that fails, times out, is too large, or whose
answer is an OperationOutcome or not a well-formed resource or search set, is
never read as "no data": it is reported, so that the items stay unknown and the
cards say so.

Requests are opened by :func:`.bounded_http.open_bounded`, the one way this
package reads a URL (the key sets of :mod:`.auth` too).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .bounded_http import REQUEST_SECONDS, BoundedResponse, open_bounded

__all__ = [
    "CALL_SECONDS",
    "MAX_FETCH_BYTES",
    "MAX_PAGES",
    "REQUEST_SECONDS",
    "BoundedResponse",
    "Fetched",
    "fetch_missing",
    "open_bounded",
]

#: Bytes read from the FHIR server for one call, all queries together.
MAX_FETCH_BYTES = 20 * 1024 * 1024
#: Pages of one search followed through ``next`` links.
MAX_PAGES = 10
#: Seconds the requests of one call may take together.
CALL_SECONDS = 30.0


class _UnreadableError(Exception):
    """A query whose answer cannot be used; the message says why (no patient data)."""


@dataclass(slots=True)
class Fetched:
    """The prefetch completed from the FHIR server, and the keys that could not be read."""

    prefetch: dict[str, Any]
    unread: dict[str, str] = field(default_factory=dict)  # key -> reason


Opener = Callable[[urllib.request.Request, float], Any]


class _Budget:
    """What one call may still read from the FHIR server: bytes, and time."""

    def __init__(self) -> None:
        self.bytes = MAX_FETCH_BYTES
        self.deadline = time.monotonic() + CALL_SECONDS

    def seconds(self) -> float:
        """The time the next request may take; _UnreadableError when the call's is spent."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _UnreadableError(self.spent())
        return min(REQUEST_SECONDS, left)

    def spent(self) -> str:
        return f"the FHIR server took longer than {CALL_SECONDS:g} s for this call"


def fetch_missing(
    prefetch: Mapping[str, Any],
    templates: Mapping[str, str],
    *,
    fhir_server: str,
    access_token: str | None,
    patient_id: str,
    opener: Opener | None = None,
) -> Fetched:
    """Run the queries of the keys ``prefetch`` lacks (or holds as null) against the server.

    Args:
        prefetch: What the client prefetched, by key.
        templates: The query of each key (``{{context.patientId}}`` filled in).
        fhir_server: The FHIR server's base URL (one the service may fetch from).
        access_token: Sent as a bearer token, when given.
        patient_id: The patient of the call.
        opener: Opens a request within a number of seconds (:func:`open_bounded`
            by default); returns a context manager with ``read(size)``.
    """
    opener = opener or open_bounded
    result = Fetched(dict(prefetch))
    budget = _Budget()
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
        except (TypeError, AttributeError, KeyError, ValueError, RecursionError):
            # An answer shaped in a way not foreseen above: not read, and said so.
            result.prefetch[key] = None
            result.unread[key] = "the FHIR server's answer could not be read"
    return result


def _query(base: str, query: str, token: str | None, opener: Opener, budget: _Budget) -> Any:
    url = base + query
    answer = _get(url, token, opener, budget)
    # "Type/id" reads a resource; "Type" or "Type?..." searches and must give a Bundle.
    searching = "/" not in query.split("?")[0].strip("/")
    if answer["resourceType"] != "Bundle":
        if searching:
            raise _UnreadableError("the FHIR server's answer is not a search result (Bundle)")
        return answer
    entries = _entries(answer)
    pages = 1
    while (following := _next(answer)) is not None:
        if pages >= MAX_PAGES:
            raise _UnreadableError(f"more than {MAX_PAGES} pages")
        url = urllib.parse.urljoin(url, following)
        if not url.startswith(base):  # the token goes only to the server the call named
            raise _UnreadableError("a next page outside the FHIR server")
        answer = _get(url, token, opener, budget)
        if answer["resourceType"] != "Bundle":
            raise _UnreadableError("a page is not a Bundle")
        entries += _entries(answer)
        pages += 1
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def _get(url: str, token: str | None, opener: Opener, budget: _Budget) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise _UnreadableError("the FHIR server is not an http(s) URL")
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    seconds = budget.seconds()
    try:
        with opener(request, seconds) as response:
            body = response.read(budget.bytes + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the answer's connection
        raise _UnreadableError(f"the FHIR server answered {error.code}") from None
    except TimeoutError:
        if time.monotonic() >= budget.deadline:
            raise _UnreadableError(budget.spent()) from None
        raise _UnreadableError(f"the FHIR server did not answer within {seconds:g} s") from None
    except (OSError, ValueError):  # no connection, TLS refused, closed without an answer
        raise _UnreadableError("the FHIR server could not be reached") from None
    except http.client.HTTPException:
        raise _UnreadableError("the FHIR server's answer is not HTTP") from None
    budget.bytes -= len(body)
    if budget.bytes < 0:
        raise _UnreadableError(f"the answers are larger than {MAX_FETCH_BYTES} bytes")
    try:
        answer = json.loads(body)
    except (RecursionError, ValueError):
        raise _UnreadableError("the FHIR server's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise _UnreadableError("the FHIR server's answer is not a resource")
    if not _named(answer):
        raise _malformed("resourceType is not a resource type name")
    if answer["resourceType"] == "OperationOutcome":
        raise _UnreadableError("the FHIR server answered with an OperationOutcome")
    return answer


def _named(resource: Any) -> bool:
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return isinstance(kind, str) and bool(kind)


def _malformed(what: str) -> _UnreadableError:
    """A search set or resource not shaped as FHIR says (element names only, never values)."""
    return _UnreadableError(f"the FHIR server's answer is malformed ({what})")


def _entries(bundle: Mapping[str, Any]) -> list[Any]:
    listed = bundle.get("entry")
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise _malformed("entry is not an array")
    kept = []
    for entry in listed:
        if not isinstance(entry, dict):
            raise _malformed("an entry is not an object")
        search = entry.get("search")
        if search is not None and not isinstance(search, dict):
            raise _malformed("entry.search is not an object")
        if search is not None and search.get("mode") == "outcome":
            continue  # a search may include OperationOutcomes (mode "outcome"): not data
        resource = entry.get("resource")
        if resource is None:
            continue  # nothing to read (the reader skips such entries too)
        if not isinstance(resource, dict):
            raise _malformed("entry.resource is not an object")
        if not _named(resource):
            raise _malformed("entry.resource.resourceType is not a resource type name")
        kept.append(entry)
    return kept


def _next(bundle: Mapping[str, Any]) -> str | None:
    links = bundle.get("link")
    if links is None:
        return None
    if not isinstance(links, list):
        raise _malformed("link is not an array")
    for link in links:
        if not isinstance(link, dict):
            raise _malformed("a link is not an object")
        if link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str) or not url:
                raise _malformed("the next link has no url")
            return url
    return None
