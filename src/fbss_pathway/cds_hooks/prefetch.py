"""What the hooks read: the discovery's prefetch templates, completed, as one bundle.

Every key the service names is read, and so is every key it did not name (an
EHR may prefetch more than it was asked for: the reader's patient guard keeps
only the patient's own). What the client did not prefetch is fetched from its
FHIR server when the service may (:mod:`.fetch`). The assessment form
(``questionnaireResponses``) came later than the other keys: a call without it
is still answered, with a warning that the form was not sent, so that clients
written before it keep working and never lose its items silently.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..fhir import FhirError
from .auth import TrustedClient
from .calls import RefusedCallError
from .fetch import fetch_missing

__all__ = [
    "FORM_KEY",
    "PREFETCH",
    "bundle_of",
    "complete_prefetch",
    "fhir_server_for",
    "needs_fetch",
    "prefetch_from_bundle",
    "unnamed_keys",
]

#: The key of the pathway assessment's QuestionnaireResponse (the items without a code).
FORM_KEY = "questionnaireResponses"
#: What the hook needs, fetched by the client: every key must be present (null: no
#: data), except the form's, whose absence is answered with a warning.
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "medications": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    FORM_KEY: "QuestionnaireResponse?patient={{context.patientId}}",
}
#: Why the form's items are unknown when a call lacks its key (the FHIR-UNREAD warning).
FORM_NOT_SENT = "the assessment form was not sent"


def prefetch_from_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """What a client would prefetch for this service from a patient's bundle.

    The reverse of how the hook reads its prefetch: the Patient read as a
    resource, each search as a ``searchset`` Bundle, or null when the bundle has
    no such resources. Useful to build test calls and demos.
    """
    by_type: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle.get("entry") or []:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry)
    prefetch: dict[str, Any] = {}
    for key, template in PREFETCH.items():
        kind, is_search = template.split("?")[0].split("/")[0], "?" in template
        found = by_type.get(kind, [])
        if not is_search:
            prefetch[key] = found[0]["resource"] if found else None
        else:
            prefetch[key] = (
                {"resourceType": "Bundle", "type": "searchset", "entry": found} if found else None
            )
    return prefetch


def unnamed_keys(prefetch: dict[str, Any]) -> int:
    """How many keys of the prefetch the service did not name (a count: keys may hold data)."""
    return sum(key not in PREFETCH for key in prefetch)


def bundle_of(prefetch: dict[str, Any]) -> dict[str, Any]:
    """One collection Bundle from the prefetched resources and search sets, named keys first.

    Raises:
        FhirError: a value is not a FHIR resource (a key the service did not
            name is not named in the message: its text comes from the client).
    """
    entries: list[dict[str, Any]] = []
    named = [key for key in PREFETCH if key in prefetch]
    for key in [*named, *(key for key in prefetch if key not in PREFETCH)]:
        value = prefetch[key]
        if value is None:
            continue
        where = key if key in PREFETCH else "a key the service did not name"
        if not isinstance(value, dict):
            raise FhirError(f"prefetch {where} is not a FHIR resource")
        if value.get("resourceType") == "Bundle":
            listed = value.get("entry") or []
            if not isinstance(listed, list):
                raise FhirError(f"prefetch {where}: entry must be an array")
            entries += listed  # the reader names any malformed entry
        else:
            entries.append({"resource": value})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def fhir_server_for(
    body: dict[str, Any], client: TrustedClient | None, authenticated: bool
) -> str | None:
    """The call's FHIR server when the service may fetch from it.

    With authentication, only a server on the calling client's ``fhir_servers``
    list: the service never fetches from an address a caller merely names.
    """
    server = body.get("fhirServer")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        return None
    if authenticated and not (
        client is not None and any(_within(server, allowed) for allowed in client.fhir_servers)
    ):
        return None
    return server


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _within(server: str, allowed: str) -> bool:
    """Whether ``server`` is the allowed FHIR base or below it.

    Scheme, host and port must be equal (not a text prefix: ``127.0.0.1:1892``
    must not admit ``127.0.0.1:18921``, nor ``ehr.example.org`` admit
    ``ehr.example.org.attacker.net``), and the allowed path a whole-segment
    prefix of the server's (``/fhir`` admits ``/fhir/R4``, not ``/fhir2``).
    """
    try:
        ours, theirs = urlsplit(server), urlsplit(allowed)
        ours_port = ours.port or _DEFAULT_PORTS.get(ours.scheme)
        theirs_port = theirs.port or _DEFAULT_PORTS.get(theirs.scheme)
    except ValueError:  # a port that is not a number, or out of range
        return False
    if (
        ours.scheme.lower() != theirs.scheme.lower()
        or ours.hostname is None
        or ours.hostname != theirs.hostname  # urlsplit lower-cases hostnames
        or ours_port != theirs_port
        or ours.username is not None
        or ours.password is not None
    ):
        return False
    prefix = [part for part in theirs.path.split("/") if part]
    return [part for part in ours.path.split("/") if part][: len(prefix)] == prefix


def _access_token(body: dict[str, Any]) -> str | None:
    authorization = body.get("fhirAuthorization")
    token = authorization.get("access_token") if isinstance(authorization, dict) else None
    return token if isinstance(token, str) and token else None


def complete_prefetch(
    body: dict[str, Any], client: TrustedClient | None, authenticated: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The prefetch, completed from the FHIR server where allowed, and what could not be read.

    Raises:
        RefusedCallError: 412 when a key other than the form's is missing and
            cannot be fetched, or when nothing at all could be read from the server.
    """
    prefetch = body.get("prefetch")
    prefetch = dict(prefetch) if isinstance(prefetch, dict) else {}
    unread: dict[str, str] = {}
    server = fhir_server_for(body, client, authenticated)
    if server is not None and _incomplete(prefetch):
        fetched = fetch_missing(
            prefetch,
            PREFETCH,
            fhir_server=server,
            access_token=_access_token(body),
            patient_id=body["context"]["patientId"],
        )
        prefetch, unread = fetched.prefetch, fetched.unread
        if all(prefetch.get(key) is None for key in PREFETCH):
            raise RefusedCallError(412, "incomplete", "no data could be read from the FHIR server")
    missing = [key for key in PREFETCH if key not in prefetch]
    if FORM_KEY in missing:  # unknown, not absent: read as null, said in a warning
        missing.remove(FORM_KEY)
        prefetch[FORM_KEY] = None
        unread[FORM_KEY] = FORM_NOT_SENT
    if missing:
        raise RefusedCallError(
            412, "incomplete", f"required prefetch missing: {', '.join(missing)}"
        )
    return prefetch, unread


def needs_fetch(body: dict[str, Any], client: TrustedClient | None, authenticated: bool) -> bool:
    """Whether completing the call's prefetch means fetching from its FHIR server."""
    prefetch = body.get("prefetch")
    return fhir_server_for(body, client, authenticated) is not None and _incomplete(
        prefetch if isinstance(prefetch, dict) else {}
    )


def _incomplete(prefetch: dict[str, Any]) -> bool:
    return any(prefetch.get(key) is None for key in PREFETCH)
