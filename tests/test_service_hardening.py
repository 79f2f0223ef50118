"""Hardening of the service and its fetching (issue 24, "Service and fetching").

Each test here failed on the version before its fix. The FHIR and key servers are
scripted stand-ins on loopback (``http.server``): they answer what a real server
must never answer (500s, malformed search sets, redirects, one byte at a time),
which fhirsnake cannot be made to do. The service runs under uvicorn on loopback
with the settings ``fbss-pathway serve`` uses; one test runs ``serve`` itself.
"""

from __future__ import annotations

import gc
import http.server
import io
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import date
from email.message import Message
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks import auth as auth_module
from fbss_pathway.cds_hooks import fetch as fetch_module
from fbss_pathway.cds_hooks.auth import (
    LEEWAY,
    Authenticator,
    AuthError,
    ClientsError,
    TrustedClient,
    load_clients,
)
from fbss_pathway.cds_hooks.cards import card_problems
from fbss_pathway.cds_hooks.fetch import MAX_FETCH_BYTES, fetch_missing
from fbss_pathway.cds_hooks.hooks import ORDER_SIGN_ID, SERVICE_ID, prefetch_from_bundle
from fbss_pathway.cds_hooks.protocol import HEAD_TIMEOUT
from fbss_pathway.cds_hooks.service import create_app
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

from .forms import searchset
from .servers import LoopbackServer, free_port, wait_until_answering

#: The examples' own assessment date (their scores and screens age from it).
ASSESSED = date(2026, 10, 1)
DOC = Path(__file__).parents[1] / "docs" / "cds-hooks.md"
ISSUER = "https://ehr.example.org"
SECRET = "MRN-8812-SECRET"
KEY = ec.generate_private_key(ec.SECP384R1())
OTHER_KEY = ec.generate_private_key(ec.SECP384R1())
TRIAL = "63650"  # CPT: an SCS trial


def _example(prefix: str) -> PatientRecord:
    path = next(p for p in example_paths() if p.name.startswith(prefix))
    return PatientRecord.model_validate_json(path.read_bytes())


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    public: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid}


def _token(
    audience: str, *, key: Any = KEY, kid: str = "k1", jku: str | None = None, **claims: Any
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": audience,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    headers: dict[str, Any] = {"kid": kid}
    if jku is not None:
        headers["jku"] = jku
    return jwt.encode(payload, key, algorithm="ES384", headers=headers)


# --- Scripted servers on loopback ------------------------------------------------------------

Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


def _send(status: int, body: bytes | dict[str, Any], **headers: str) -> Answer:
    data = json.dumps(body).encode() if isinstance(body, dict) else body

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("content-type", "application/fhir+json")
        handler.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    return answer


def _raw(data: bytes) -> Answer:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.wfile.write(data)
        handler.close_connection = True

    return answer


def _trickle(head: bytes, body: bytes, every: float) -> Answer:
    """Sends ``head`` and then ``body`` one byte every ``every`` seconds."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        try:
            handler.wfile.write(head)
            handler.wfile.flush()
            for byte in body:
                time.sleep(every)
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
        except OSError:  # the client gave up: what the test wants
            pass
        handler.close_connection = True

    return answer


def _slow(seconds: float, then: Answer) -> Answer:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        then(handler)

    return answer


EMPTY_SEARCH = {"resourceType": "Bundle", "type": "searchset", "entry": []}


class _Scripted(http.server.ThreadingHTTPServer):
    """Answers each path as scripted (an empty search set otherwise); records the paths asked."""

    daemon_threads = True

    def __init__(self, answers: dict[str, Answer], default: Answer | None = None) -> None:
        self.hits: list[str] = []
        hits, fallback = self.hits, default or _send(200, EMPTY_SEARCH)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                hits.append(path)
                answers.get(path, fallback)(self)

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __enter__(self) -> _Scripted:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def service() -> Iterator[LoopbackServer]:
    with LoopbackServer(create_app(today=lambda: ASSESSED), free_port()) as server:
        yield server  # loopback: no authentication


def _unread(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cards if c["source"].get("topic", {}).get("code") == "FHIR-UNREAD"]


# --- A failed search is never "no data" ------------------------------------------------------


def _procedure() -> dict[str, Any]:
    """Example 05's lumbar operation as the FHIR server would give it."""
    entries = prefetch_from_bundle(bundle_from_record(_example("05_")))["procedures"]["entry"]
    resource: dict[str, Any] = entries[0]["resource"]
    return resource


def _prefetch(record: PatientRecord) -> dict[str, Any]:
    """Everything prefetched: each search the chart has none for as an empty search set."""
    prefetch = prefetch_from_bundle(bundle_from_record(record))
    return {key: searchset() if value is None else value for key, value in prefetch.items()}


def _search(*entries: Any, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": list(entries), **fields}


FAILED_PROCEDURE_SEARCHES = {
    "500": (_send(500, {"resourceType": "Bundle"}), "answered 500"),
    "over the byte budget": (_send(200, b" " * (MAX_FETCH_BYTES + 1)), "larger than"),
    "entry.search a string": (
        _send(200, _search({"search": "match", "resource": _procedure()})),
        "malformed",
    ),
    "entry.search a list": (
        _send(200, _search({"search": [{"mode": "match"}], "resource": _procedure()})),
        "malformed",
    ),
    "link 5": (_send(200, _search({"resource": _procedure()}, link=5)), "malformed"),
    "link an object": (
        _send(200, _search({"resource": _procedure()}, link={"relation": "next", "url": "x"})),
        "malformed",
    ),
    "an entry not an object": (_send(200, _search(5)), "malformed"),
    "a resource not an object": (_send(200, _search({"resource": "Procedure/1"})), "malformed"),
    "a resource without resourceType": (
        _send(200, _search({"resource": {"id": "x"}})),
        "malformed",
    ),
    "a search answered by a resource": (_send(200, _procedure()), "not a search result"),
    "not HTTP": (_raw(b"HELLO THERE\r\n\r\n"), "not HTTP"),
}


@pytest.mark.parametrize("case", FAILED_PROCEDURE_SEARCHES, ids=str)
def test_a_failed_or_malformed_search_gives_the_unread_card_never_no_cards(
    service: LoopbackServer, case: str
) -> None:
    # Example 05 is on the pathway by its lumbar operation: with the Procedure search
    # unread, what was read alone would place it outside the pathway ({"cards": []}).
    answer, reason = FAILED_PROCEDURE_SEARCHES[case]
    record = _example("05_")
    prefetch = _prefetch(record)
    del prefetch["procedures"]
    with _Scripted({"/fhir/Procedure": answer}) as fhir:
        response = httpx2.post(
            f"{service.base}/cds-services/{SERVICE_ID}",
            json={
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
                "prefetch": prefetch,
                "fhirServer": f"{fhir.base}/fhir",
            },
            timeout=60,
        )
        assert fhir.hits == ["/fhir/Procedure"]
    assert response.status_code == 200, response.text[:300]
    cards = response.json()["cards"]
    [unread] = _unread(cards)
    assert "procedures (" in unread["detail"]
    assert reason in unread["detail"], unread["detail"]
    assert unread["indicator"] == "warning"
    assert all(card_problems(card) == [] for card in cards)
    assert str(record.patient_id) not in json.dumps(cards)


def test_when_no_search_could_be_read_the_call_is_412_not_a_500(service: LoopbackServer) -> None:
    record = _example("05_")
    malformed = _send(200, _search(link=5))
    with _Scripted({"/fhir/Patient/" + str(record.patient_id): _send(500, {})}, malformed) as fhir:
        response = httpx2.post(
            f"{service.base}/cds-services/{SERVICE_ID}",
            json={
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
                "fhirServer": f"{fhir.base}/fhir",
            },
            timeout=60,
        )
    assert response.status_code == 412, response.text[:300]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "no data could be read" in response.text


def _sign(
    service: LoopbackServer, prefetch: dict[str, Any], fhir: str, patient: str
) -> list[dict[str, Any]]:
    order = {
        "resourceType": "ServiceRequest",
        "id": "order-1",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": TRIAL}]},
    }
    response = httpx2.post(
        f"{service.base}/cds-services/{ORDER_SIGN_ID}",
        json={
            "hook": "order-sign",
            "hookInstance": str(uuid.uuid4()),
            "context": {
                "userId": "Practitioner/1",
                "patientId": patient,
                "draftOrders": {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": order}],
                },
            },
            "prefetch": prefetch,
            "fhirServer": fhir,
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text[:300]
    cards: list[dict[str, Any]] = response.json()["cards"]
    assert all(card_problems(card) == [] for card in cards)
    return cards


@pytest.mark.parametrize("key", ["procedures", "conditions"])
def test_an_order_checked_with_a_failed_search_says_so(service: LoopbackServer, key: str) -> None:
    # Example 05's SCS trial is what the pathway recommends (no card when all is read).
    # Without its procedures it seems outside the pathway; without its conditions the
    # red flags are unread: either way the answer must say what was not read.
    record = _example("05_")
    prefetch = _prefetch(record)
    full = _sign(service, prefetch, "http://127.0.0.1:9/fhir", str(record.patient_id))
    assert full == []  # nothing fetched, nothing to say
    del prefetch[key]
    kind = {"procedures": "Procedure", "conditions": "Condition"}[key]
    with _Scripted({f"/fhir/{kind}": _send(500, {})}) as fhir:
        cards = _sign(service, prefetch, f"{fhir.base}/fhir", str(record.patient_id))
    assert [f"{key} (the FHIR server answered 500)" in c["detail"] for c in _unread(cards)] == [
        True
    ]


# --- Fetching: bounded in time as a whole; HTTP errors closed ---------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        _trickle(b"HTTP/1.1 200 OK\r\ncontent-length: 60\r\n\r\n", b" " * 60, 0.2),
        _trickle(b"HTTP/1.1 200 OK\r\n", b"x-slow: " + b"a" * 60, 0.2),
    ],
    ids=["body", "head"],
)
def test_a_fhir_request_is_bounded_as_a_whole_not_per_read(
    monkeypatch: pytest.MonkeyPatch, answer: Answer
) -> None:
    # One byte every 0.2 s never trips a per-read timeout; the whole request is bounded.
    monkeypatch.setattr(fetch_module, "REQUEST_SECONDS", 1.5)
    with _Scripted({"/fhir/Patient/p1": answer}) as fhir:
        started = time.monotonic()
        fetched = fetch_missing(
            {},
            {"patient": "Patient/{{context.patientId}}"},
            fhir_server=f"{fhir.base}/fhir",
            access_token="t0ken",
            patient_id="p1",
        )
        elapsed = time.monotonic() - started
    assert fetched.unread == {"patient": "the FHIR server did not answer within 1.5 s"}
    assert elapsed < 3.0, elapsed


def test_the_fetches_of_one_call_are_bounded_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_module, "REQUEST_SECONDS", 1.0)
    monkeypatch.setattr(fetch_module, "CALL_SECONDS", 1.5)
    templates = {"conditions": "Condition", "observations": "Observation", "more": "Procedure"}
    slow = _slow(0.8, _send(200, EMPTY_SEARCH))
    with _Scripted({}, slow) as fhir:
        started = time.monotonic()
        fetched = fetch_missing(
            {}, templates, fhir_server=f"{fhir.base}/fhir", access_token=None, patient_id="p"
        )
        elapsed = time.monotonic() - started
    assert set(fetched.prefetch) == set(templates)
    assert fetched.unread["more"] == "the FHIR server took longer than 1.5 s for this call"
    assert elapsed < 2.5, elapsed


def test_an_http_error_from_the_fhir_server_is_closed() -> None:
    # Kept alive here, so that no garbage collection closes it in the service's place.
    errors: list[urllib.error.HTTPError] = []
    bodies: list[io.BytesIO] = []

    def opener(request: Any, timeout: float) -> Any:
        body = io.BytesIO(b'{"resourceType": "OperationOutcome"}')
        bodies.append(body)
        errors.append(urllib.error.HTTPError(request.full_url, 500, "error", Message(), body))
        raise errors[-1]

    fetched = fetch_missing(
        {},
        {"patient": "Patient/{{context.patientId}}"},
        fhir_server="https://ehr.example/fhir",
        access_token=None,
        patient_id="p1",
        opener=opener,
    )
    assert fetched.unread == {"patient": "the FHIR server answered 500"}
    assert [body.closed for body in bodies] == [True]


def test_http_errors_leave_no_unclosed_connection() -> None:
    # Python 3.14 warns (ResourceWarning) for an HTTPError never closed; the suite turns
    # warnings into errors. Run under -W error::ResourceWarning as well.
    scripted = _Scripted({"/fhir/Patient/p1": _send(500, {})}, _send(302, b"", location="/x"))
    with scripted as server, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fetched = fetch_missing(
            {},
            {"patient": "Patient/{{context.patientId}}", "conditions": "Condition"},
            fhir_server=f"{server.base}/fhir",
            access_token=None,
            patient_id="p1",
        )
        client = TrustedClient(ISSUER, jwks_url=f"{server.base}/jwks")
        with pytest.raises(AuthError, match="could not be fetched"):
            Authenticator((client,), "https://svc").verify(
                f"Bearer {_token('https://svc/cds-services')}", "/cds-services"
            )
        gc.collect()
    assert fetched.unread == {
        "patient": "the FHIR server answered 500",
        "conditions": "the FHIR server answered 302",
    }
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_an_http_error_from_a_key_server_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[urllib.error.HTTPError] = []
    bodies: list[io.BytesIO] = []

    def refusing(request: Any, seconds: float) -> Any:
        body = io.BytesIO(b"{}")
        bodies.append(body)
        errors.append(urllib.error.HTTPError(request.full_url, 503, "busy", Message(), body))
        raise errors[-1]

    monkeypatch.setattr(auth_module, "open_bounded", refusing)
    client = TrustedClient(ISSUER, jwks_url="https://ehr.example.org/jwks")
    with pytest.raises(AuthError, match="could not be fetched"):
        Authenticator((client,), "https://svc").verify(
            f"Bearer {_token('https://svc/cds-services')}", "/cds-services"
        )
    assert [body.closed for body in bodies] == [True]


# --- Key sets: cached, refetched at most once a minute, never through a redirect -------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_unknown_kid_refetches_the_key_set_at_most_once_a_minute_per_client() -> None:
    fetched: list[str] = []
    key_set = {"keys": [_jwk(KEY, "k1")]}

    def fetch(url: str) -> Any:
        fetched.append(url)
        return key_set

    clock = _Clock()
    clients = (
        TrustedClient(ISSUER, jwks_url="https://ehr.example.org/jwks"),
        TrustedClient("https://other.example.org", jwks_url="https://other.example.org/jwks"),
    )
    authenticator = Authenticator(clients, "https://svc", fetch=fetch, monotonic=clock)
    audience = "https://svc/cds-services"

    def verify(token: str) -> None:
        authenticator.verify(f"Bearer {token}", "/cds-services")

    verify(_token(audience))
    verify(_token(audience))  # cached
    assert len(fetched) == 1
    for _ in range(50):  # an unknown kid: not fetched again within the minute
        with pytest.raises(AuthError, match="kid"):
            verify(_token(audience, key=OTHER_KEY, kid="unknown"))
    assert len(fetched) == 1
    verify(_token(audience))  # the known key still verifies
    # Another client's first fetch is its own.
    with pytest.raises(AuthError, match="kid"):
        verify(_token(audience, iss="https://other.example.org", key=OTHER_KEY, kid="new"))
    assert fetched == ["https://ehr.example.org/jwks", "https://other.example.org/jwks"]
    # A minute later, a rotated key is fetched once and then cached.
    clock.now += 61
    key_set["keys"].append(_jwk(OTHER_KEY, "rotated"))
    for _ in range(3):
        verify(_token(audience, key=OTHER_KEY, kid="rotated"))
    assert len(fetched) == 3


def test_a_slow_key_server_holds_no_other_call() -> None:
    # 60 calls naming an unknown kid behind an allow-listed jku whose server takes 4 s:
    # the key set is fetched once, the other calls are refused at once, and a valid
    # call (its key configured) is answered meanwhile: well before the fetch ends, with
    # room for a loaded machine (it was flaky with 2 s and a 1 s bound).
    keys = {"keys": [_jwk(KEY, "k1")]}
    with _Scripted({}, _slow(4.0, _send(200, keys))) as key_server:
        jku = f"{key_server.base}/jwks.json"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        client = TrustedClient(ISSUER, jwks={"keys": [_jwk(KEY, "k1")]}, jku=(jku,))
        app = create_app(authenticator=Authenticator((client,), base), today=lambda: ASSESSED)
        audience = f"{base}/cds-services"
        with LoopbackServer(app, port):
            statuses: list[int] = []

            def unknown() -> None:
                token = _token(audience, key=OTHER_KEY, kid="unknown", jku=jku)
                response = httpx2.get(
                    audience, headers={"authorization": f"Bearer {token}"}, timeout=30
                )
                statuses.append(response.status_code)

            callers = [threading.Thread(target=unknown) for _ in range(60)]
            for caller in callers:
                caller.start()
            time.sleep(0.5)  # every caller has called; the one fetch is under way
            started = time.monotonic()
            valid = httpx2.get(
                audience, headers={"authorization": f"Bearer {_token(audience)}"}, timeout=30
            )
            waited = time.monotonic() - started
            for caller in callers:
                caller.join(timeout=30)
        assert valid.status_code == 200
        assert waited < 2.0, waited
        assert statuses == [401] * 60
        assert key_server.hits == ["/jwks.json"]


def test_key_set_fetches_follow_no_redirects() -> None:
    keys = {"keys": [_jwk(OTHER_KEY, "moved")]}
    with _Scripted({}, _send(200, keys)) as elsewhere:
        redirect = _send(302, b"", location=f"{elsewhere.base}/jwks.json")
        with _Scripted({}, redirect) as listed:
            jku = f"{listed.base}/jwks.json"
            client = TrustedClient(ISSUER, jwks={"keys": [_jwk(KEY, "k1")]}, jku=(jku,))
            authenticator = Authenticator((client,), "https://svc")
            token = _token("https://svc/cds-services", key=OTHER_KEY, kid="moved", jku=jku)
            with pytest.raises(AuthError, match="could not be fetched"):
                authenticator.verify(f"Bearer {token}", "/cds-services")
            assert listed.hits == ["/jwks.json"]
        assert elsewhere.hits == []


def test_a_key_set_nested_too_deeply_is_a_refusal_not_a_500() -> None:
    with _Scripted({}, _send(200, b"[" * 200_000)) as deep:
        client = TrustedClient(ISSUER, jwks_url=f"{deep.base}/jwks")
        with pytest.raises(AuthError, match="could not be fetched"):
            Authenticator((client,), "https://svc").verify(
                f"Bearer {_token('https://svc/cds-services')}", "/cds-services"
            )


def test_a_key_set_fetch_is_bounded_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_module, "KEY_FETCH_SECONDS", 1.5)
    body = json.dumps({"keys": [_jwk(KEY, "k1")]}).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body)
    with _Scripted({}, _trickle(head, body, 0.2)) as slow:
        client = TrustedClient(ISSUER, jwks_url=f"{slow.base}/jwks")
        started = time.monotonic()
        with pytest.raises(AuthError, match="could not be fetched"):
            Authenticator((client,), "https://svc").verify(
                f"Bearer {_token('https://svc/cds-services')}", "/cds-services"
            )
        assert time.monotonic() - started < 3.0


# --- Token lifetime -------------------------------------------------------------------------


LIFETIMES: dict[str, tuple[Callable[[int], dict[str, Any]], str]] = {
    "exp 10^30": (lambda now: {"exp": 10**30}, "lifetime"),
    "lifetime 331 s": (lambda now: {"exp": now + 300 + LEEWAY + 1}, "lifetime"),
    "issued an hour ago": (lambda now: {"iat": now - 3600, "exp": now + 60}, "lifetime"),
    "exp text": (lambda now: {"exp": str(now + 300)}, "exp is not a number"),
    "iat text": (lambda now: {"iat": str(now)}, "iat is not a number"),
    "exp true": (lambda now: {"exp": True}, "exp is not a number"),
    "no iat": (lambda now: {"iat": None}, "no iat claim"),
}


@pytest.mark.parametrize("case", LIFETIMES, ids=str)
def test_a_token_lifetime_is_bounded_and_its_times_are_numbers(case: str) -> None:
    client = TrustedClient(ISSUER, jwks={"keys": [_jwk(KEY, "k1")]})
    authenticator = Authenticator((client,), "https://svc")
    now = int(time.time())
    claims, reason = LIFETIMES[case]
    payload = {
        "iss": ISSUER,
        "aud": "https://svc/cds-services",
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims(now),
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    token = jwt.encode(payload, KEY, algorithm="ES384", headers={"kid": "k1"})
    with pytest.raises(AuthError, match=reason):
        authenticator.verify(f"Bearer {token}", "/cds-services")


def test_a_token_of_five_minutes_and_the_leeway_is_accepted() -> None:
    client = TrustedClient(ISSUER, jwks={"keys": [_jwk(KEY, "k1")]})
    authenticator = Authenticator((client,), "https://svc")
    now = int(time.time())
    for claims in ({"exp": now + 300 + LEEWAY}, {"exp": now + 299.5, "iat": now + 0.25}):
        token = _token("https://svc/cds-services", **claims)
        assert authenticator.verify(f"Bearer {token}", "/cds-services") == client


# --- Idle and slow connections -----------------------------------------------------------------


def _closed_within(connection: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection (None: still open after ``seconds``)."""
    started = time.monotonic()
    connection.settimeout(seconds)
    try:
        while connection.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_silent_slow_and_idle_connections_are_closed(service: LoopbackServer) -> None:
    address = ("127.0.0.1", service.port)
    silent = socket.create_connection(address)
    slow = socket.create_connection(address)
    idle = socket.create_connection(address)
    results: dict[str, float | None] = {}

    def trickle() -> None:  # a head that never ends: one byte every 0.5 s
        try:
            for byte in b"GET /cds-services HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaa":
                slow.send(bytes([byte]))
                time.sleep(0.5)
        except OSError:
            pass

    # A keep-alive connection that was answered, then sent one byte and fell silent.
    idle.sendall(b"GET /cds-services HTTP/1.1\r\nhost: x\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    idle.sendall(b"G")
    writer = threading.Thread(target=trickle, daemon=True)
    writer.start()
    limit = HEAD_TIMEOUT + 3
    watchers = [
        threading.Thread(
            target=lambda n=name, c=conn: results.update({n: _closed_within(c, limit)})
        )
        for name, conn in (("silent", silent), ("slow", slow), ("idle", idle))
    ]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        watcher.join()
    for connection in (silent, slow, idle):
        connection.close()
    assert all(results[name] is not None for name in results), results
    assert all(HEAD_TIMEOUT - 1 < (results[name] or 0) < limit for name in results), results


def test_a_hundred_silent_connections_deny_service_no_longer_than_the_head_bound(
    service: LoopbackServer,
) -> None:
    silent = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(100)]
    try:
        time.sleep(0.3)
        assert httpx2.get(f"{service.base}/cds-services", timeout=10).status_code == 503
        time.sleep(HEAD_TIMEOUT + 1)
        assert httpx2.get(f"{service.base}/cds-services", timeout=10).status_code == 200
    finally:
        for connection in silent:
            connection.close()


def test_serve_closes_a_silent_connection() -> None:
    port = free_port()
    command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/cds-services", server)
        with socket.create_connection(("127.0.0.1", port)) as silent:
            assert _closed_within(silent, HEAD_TIMEOUT + 3) is not None
    finally:
        server.terminate()
        server.communicate(timeout=30)


# --- Feedback and bodies ----------------------------------------------------------------------


def _feedback(count: int) -> dict[str, Any]:
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2026-10-01"}
    return {"feedback": [item] * count}


def test_a_feedback_call_holds_at_most_100_items(
    service: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{service.base}/cds-services/{SERVICE_ID}/feedback"
    with caplog.at_level(logging.INFO, logger="fbss_pathway.cds_hooks"):
        assert httpx2.post(url, json=_feedback(100), timeout=30).status_code == 200
        refused = httpx2.post(url, json=_feedback(20_000), timeout=30)
    assert refused.status_code == 400
    assert "at most 100" in refused.json()["issue"][0]["diagnostics"]
    assert caplog.text.count('"event": "feedback"') == 100


def test_bodies_are_read_as_json_loads_reads_them_and_documented_so(
    service: LoopbackServer,
) -> None:
    record = _example("05_")
    call = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }
    text = json.dumps(call)
    url = f"{service.base}/cds-services/{SERVICE_ID}"
    headers = {"content-type": "application/json"}
    for body in (text.encode("utf-16"), text.encode("utf-8-sig"), text.encode("utf-32")):
        json.loads(body)  # what json.loads reads, the service reads
        response = httpx2.post(url, content=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text[:200]
    assert httpx2.post(url, content=b"\xff\xfe\xfd", headers=headers).status_code == 400
    limits = DOC.read_text(encoding="utf-8").split("### Limits and errors", 1)[1]
    limits = limits.split("\n### ", 1)[0]
    assert "not UTF-8" not in limits
    assert "UTF-16" in limits
    assert "byte-order mark" in limits


# --- Logs, clients and docs ---------------------------------------------------------------------


def test_authenticated_calls_and_discovery_are_logged_without_tokens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = TrustedClient(ISSUER, jwks={"keys": [_jwk(KEY, "k1")]})
    app = create_app(authenticator=Authenticator((client,), base), today=lambda: ASSESSED)
    record = _example("05_").model_copy(update={"patient_id": SECRET})
    call = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": SECRET},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }
    tokens = [_token(f"{base}/cds-services"), _token(f"{base}/cds-services/{SERVICE_ID}")]
    with LoopbackServer(app, port), caplog.at_level(logging.INFO, "fbss_pathway.cds_hooks"):
        discovered = httpx2.get(
            f"{base}/cds-services", headers={"authorization": f"Bearer {tokens[0]}"}
        )
        hooked = httpx2.post(
            f"{base}/cds-services/{SERVICE_ID}",
            json=call,
            headers={"authorization": f"Bearer {tokens[1]}"},
            timeout=30,
        )
    assert (discovered.status_code, hooked.status_code) == (200, 200)
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("cds_hooks")]
    assert [e["event"] for e in events] == ["authenticated", "discovery", "authenticated", "hook"]
    assert events[0]["issuer"] == ISSUER
    assert events[0]["endpoint"] == "discovery"
    assert events[2]["endpoint"] == "hook"
    assert events[1]["services"] == 2
    assert SECRET not in caplog.text
    assert not any(token in caplog.text for token in tokens)
    assert not any(part in caplog.text for token in tokens for part in token.split("."))


@pytest.mark.parametrize("member", ["d", "k"])
def test_a_clients_file_holding_a_private_key_is_refused(tmp_path: Path, member: str) -> None:
    pair: dict[str, Any] = ECAlgorithm.to_jwk(KEY, as_dict=True)  # the private key, with d
    key = {**pair, "kid": "k1"} if member == "d" else {"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}
    path = tmp_path / "clients.toml"
    path.write_text(f"[[client]]\nissuer = \"{ISSUER}\"\njwks = '{json.dumps({'keys': [key]})}'\n")
    with pytest.raises(ClientsError, match=f"private or secret key material .*{member}") as error:
        load_clients(path)
    assert str(pair.get("d")) not in str(error.value)


def test_the_docs_say_what_discovery_lists_and_where_the_sandbox_key_is() -> None:
    text = DOC.read_text(encoding="utf-8")
    service = text.split("## The service", 1)[1]
    assert "discovery, one `patient-view` service" not in service
    assert "discovery, two services" in service
    sandbox = text.split("## Tried in the CDS Hooks Sandbox", 1)[1]
    assert "https://sandbox.cds-hooks.org" in sandbox  # its issuer
    assert "build/.well-known/jwks.json" in sandbox  # where its public key set is
    assert "https://sandbox.cds-hooks.org/.well-known/jwks.json" in sandbox  # its jku
