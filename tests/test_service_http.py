"""The CDS Hooks service over real HTTP: uvicorn on a loopback port, signed JWTs, bounds, logs."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks import hooks
from fbss_pathway.cds_hooks import service as service_module
from fbss_pathway.cds_hooks.auth import LEEWAY, Authenticator, AuthError, TrustedClient
from fbss_pathway.cds_hooks.protocol import MAX_HEAD
from fbss_pathway.cds_hooks.replay import SharedReplays
from fbss_pathway.cds_hooks.service import SERVICE_ID, create_app, prefetch_from_bundle
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import bundle_from_record

from .servers import LoopbackServer, free_port

ISSUER = "https://ehr.example.org"
SECRET = "MRN-4711-SECRET"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_KEY = ec.generate_private_key(ec.SECP384R1())
#: The examples' own assessment date: the service assesses as of it, so that the
#: examples' blocks and scores do not age with the clock.
ASSESSED = date(2026, 10, 1)


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
    public: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid}


class _KeySetServer(http.server.ThreadingHTTPServer):
    """Serves one JSON Web Key Set on loopback, as an EHR's jku endpoint does."""

    def __init__(self, keys: dict[str, Any]) -> None:
        body = json.dumps(keys).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:  # quiet
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/jwks.json"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def key_set_server() -> Iterator[_KeySetServer]:
    server = _KeySetServer({"keys": [_jwk(ROTATED_KEY, "rotated-1")]})
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def service(key_set_server: _KeySetServer) -> Iterator[LoopbackServer]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clients = (
        TrustedClient(
            ISSUER,
            jwks={"keys": [_jwk(EC_KEY, "ec-1"), _jwk(RSA_KEY, "rsa-1")]},
            jku=(key_set_server.url,),
        ),
    )
    app = create_app(
        authenticator=Authenticator(clients, base),
        max_body=5 * 1024 * 1024,
        today=lambda: ASSESSED,
    )
    with LoopbackServer(app, port) as server:
        yield server


def _token(
    base: str,
    *,
    path: str = f"/cds-services/{SERVICE_ID}",
    key: Any = EC_KEY,
    algorithm: str = "ES384",
    kid: str | None = "ec-1",
    jku: str | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": f"{base}{path}",
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    headers: dict[str, Any] = {}
    if kid is not None:
        headers["kid"] = kid
    if jku is not None:
        headers["jku"] = jku
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def _call(record: PatientRecord | None = None) -> dict[str, Any]:
    record = record or PatientRecord.model_validate_json(example_paths()[3].read_bytes())
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": record.patient_id},
        "prefetch": prefetch_from_bundle(bundle_from_record(record)),
    }


def _post(service: LoopbackServer, body: Any, token: str | None, **kwargs: Any) -> httpx2.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx2.post(
        f"{service.base}/cds-services/{SERVICE_ID}",
        json=body,
        headers=headers,
        timeout=30,
        **kwargs,
    )


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "algorithm", "kid"), [(EC_KEY, "ES384", "ec-1"), (RSA_KEY, "RS384", "rsa-1")]
)
def test_a_signed_call_from_a_trusted_client_gets_cards(
    service: LoopbackServer, key: Any, algorithm: str, kid: str
) -> None:
    response = _post(service, _call(), _token(service.base, key=key, algorithm=algorithm, kid=kid))
    assert response.status_code == 200, response.text
    # Example 04 (positive block after a fusion): the stage card's headline names the
    # facet and sacroiliac rung and the next step; the facet option has a card of its own.
    summaries = [card["summary"] for card in response.json()["cards"]]
    assert summaries[0] == (
        "PSPS type 2 (FBSS): Facet joint intervention; next: radiofrequency denervation"
    )
    assert (
        "Facet joint intervention (medial branch block, radiofrequency): appropriate; "
        "next: radiofrequency denervation"
    ) in summaries


def test_discovery_needs_a_token_for_its_own_url(service: LoopbackServer) -> None:
    url = f"{service.base}/cds-services"
    assert httpx2.get(url).status_code == 401
    token = _token(service.base, path="/cds-services")
    assert httpx2.get(url, headers={"authorization": f"Bearer {token}"}).status_code == 200
    wrong_audience = _token(service.base)
    assert httpx2.get(url, headers={"authorization": f"Bearer {wrong_audience}"}).status_code == 401


def _forged_none(base: str) -> str:
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": "ec-1"}).encode())
    claims = {"iss": ISSUER, "aud": f"{base}/cds-services/{SERVICE_ID}", "exp": 2**31, "jti": "x"}
    return f"{header.decode()}.{jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()}."


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda base: None, "no bearer token"),
        (lambda base: "garbage", "not a JWT"),
        (_forged_none, "algorithm is not accepted"),
        (
            lambda base: jwt.encode(
                {"iss": ISSUER}, "k" * 32, algorithm="HS256", headers={"kid": "ec-1"}
            ),
            "algorithm is not accepted",
        ),
        (lambda base: _token(base, kid=None), "no kid"),
        (lambda base: _token(base, kid="unknown"), "kid is not in the client's key set"),
        (lambda base: _token(base, iss="https://other.example"), "issuer is not a trusted client"),
        (
            lambda base: _token(base, aud="https://elsewhere/cds-services/fbss-pathway"),
            "aud is not",
        ),
        (lambda base: _token(base, exp=int(time.time()) - 3600), "expired"),
        (lambda base: _token(base, jti=None), "no jti claim"),
        (lambda base: _token(base, iat=None), "no iat claim"),
        (lambda base: _token(base, key=RSA_KEY, algorithm="RS384", kid="ec-1"), "does not fit"),
        (lambda base: _token(base, key=ROTATED_KEY, kid="ec-1"), "signature does not verify"),
        (
            lambda base: _token(base, jku="http://127.0.0.1:9/evil.json"),
            "jku is not on this client's allow-list",
        ),
    ],
)
def test_an_untrusted_call_is_401_naming_the_reason_never_the_token(
    service: LoopbackServer, make_token: Any, reason: str
) -> None:
    token = make_token(service.base)
    response = _post(service, _call(), token)
    assert response.status_code == 401
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert reason in outcome["issue"][0]["diagnostics"]
    if token:
        assert token not in response.text
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_replayed_token_is_refused(service: LoopbackServer) -> None:
    token = _token(service.base)
    assert _post(service, _call(), token).status_code == 200
    replay = _post(service, _call(), token)
    assert replay.status_code == 401
    assert "replayed" in replay.text


def test_a_jku_on_the_allow_list_is_followed(
    service: LoopbackServer, key_set_server: _KeySetServer
) -> None:
    token = _token(service.base, key=ROTATED_KEY, kid="rotated-1", jku=key_set_server.url)
    assert _post(service, _call(), token).status_code == 200


def test_a_jku_is_not_fetched_when_its_key_is_configured() -> None:
    # The CDS Hooks sandbox signs with a jku on its public site; a service that
    # cannot reach it, configured with the sandbox's published key, still trusts it.
    fetched: list[str] = []

    def unreachable(url: str) -> Any:
        fetched.append(url)
        raise OSError("no network")

    jku = "https://client.example.org/.well-known/jwks.json"
    client = TrustedClient(ISSUER, jwks={"keys": [_jwk(EC_KEY, "ec-1")]}, jku=(jku,))
    base = "https://service.example.org"
    authenticator = Authenticator((client,), base, fetch=unreachable)
    path = f"/cds-services/{SERVICE_ID}"
    good = _token(base, jku=jku)
    assert authenticator.verify(f"Bearer {good}", path) == client
    assert fetched == []
    other = _token(base, key=ROTATED_KEY, kid="rotated-1", jku=jku)  # a kid not configured
    with pytest.raises(AuthError):
        authenticator.verify(f"Bearer {other}", path)
    assert fetched == [jku]  # followed, and failing to read it is a refusal
    elsewhere = _token(base, jku="https://elsewhere.example.org/jwks.json")
    with pytest.raises(AuthError, match="allow-list"):  # the allow-list still holds
        authenticator.verify(f"Bearer {elsewhere}", path)


# --- Bounds: never a 500 for bad input -----------------------------------------------------


def _raw(
    service: LoopbackServer, body: bytes, content_type: str = "application/json"
) -> httpx2.Response:
    return httpx2.post(
        f"{service.base}/cds-services/{SERVICE_ID}",
        content=body,
        headers={"authorization": f"Bearer {_token(service.base)}", "content-type": content_type},
        timeout=30,
    )


def _with_prefetch(change: Any) -> bytes:
    call = _call()
    change(call["prefetch"])
    return json.dumps(call).encode()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "expected"),
    [
        (b"{}", "text/plain", 415, "application/json"),
        (b"x" * (5 * 1024 * 1024 + 1), "application/json", 413, "larger than"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}", "application/json", 400, "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "not valid JSON"),
        (
            _with_prefetch(lambda p: p["observations"].update(entry=5)),
            "application/json",
            400,
            "entry must be an array",
        ),
        (
            _with_prefetch(
                lambda p: p["observations"]["entry"][0]["resource"].update(resourceType=None)
            ),
            "application/json",
            400,
            "resourceType",
        ),
        (
            _with_prefetch(
                lambda p: p["observations"]["entry"][0]["resource"].update(resourceType="Foo")
            ),
            "application/json",
            200,
            None,
        ),
        (
            _with_prefetch(lambda p: p["observations"]["entry"][0]["resource"].update(code=None)),
            "application/json",
            200,
            None,
        ),
    ],
)
def test_bad_requests_get_a_4xx_operation_outcome_never_a_500(
    service: LoopbackServer, body: bytes, content_type: str, status: int, expected: str | None
) -> None:
    response = _raw(service, body, content_type)
    assert response.status_code == status, response.text[:300]
    if expected is not None:
        assert response.json()["resourceType"] == "OperationOutcome"
        assert expected in response.json()["issue"][0]["diagnostics"]


def _raw_http(service: LoopbackServer, data: bytes, *, finish: bool = True) -> bytes:
    """Send bytes on a fresh connection; what comes back until the server closes it."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as connection:
        connection.sendall(data)
        if finish:
            connection.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_a_request_head_past_16_kb_is_refused_whole_or_still_arriving(
    service: LoopbackServer,
) -> None:
    big = b"x-padding: " + b"a" * (MAX_HEAD + 1) + b"\r\n"
    whole = b"GET /cds-services HTTP/1.1\r\nhost: x\r\n" + big + b"\r\n"
    endless = b"GET /cds-services HTTP/1.1\r\nhost: x\r\n" + big  # the head never ends
    for data, finish in ((whole, True), (endless, False)):
        answer = _raw_http(service, data, finish=finish)  # the server closes the connection
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
    # Under the bound, and a body far larger than the bound behind a small head: served.
    token = _token(service.base, path="/cds-services")
    small = f"GET /cds-services HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n"
    answer = _raw_http(service, (small + "connection: close\r\n\r\n").encode(), finish=False)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    call = _call()
    call["padding"] = "p" * (20 * MAX_HEAD)
    assert _post(service, call, _token(service.base)).status_code == 200


def _large_call() -> dict[str, Any]:
    """A call whose chart is past INLINE_MAX_BODY: heart rates the pathway does not read."""
    call = _call()
    patient = call["context"]["patientId"]
    heart_rate = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-01-05",
        "valueQuantity": {"value": 72, "unit": "/min"},
    }
    entries = call["prefetch"]["observations"]["entry"]
    entries += [{"resource": {**heart_rate, "id": f"hr{n}"}} for n in range(400)]
    assert len(json.dumps(call)) > service_module.INLINE_MAX_BODY
    return call


def test_a_large_chart_in_evaluation_never_stalls_other_callers(
    service: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, entered = threading.Event(), threading.Event()
    real = hooks.patient_view

    def slow(*args: Any) -> Any:  # a chart that takes long to evaluate
        entered.set()
        release.wait(timeout=30)
        return real(*args)

    monkeypatch.setattr(service_module, "patient_view", slow)
    hook_call = threading.Thread(target=_post, args=(service, _large_call(), _token(service.base)))
    hook_call.start()
    try:
        assert entered.wait(timeout=30)
        token = _token(service.base, path="/cds-services")
        discovery = httpx2.get(
            f"{service.base}/cds-services", headers={"authorization": f"Bearer {token}"}, timeout=5
        )
        assert discovery.status_code == 200  # answered while the hook call is still evaluating
        assert hook_call.is_alive()
    finally:
        release.set()
        hook_call.join(timeout=30)


def test_a_large_chart_is_read_like_a_small_one(service: LoopbackServer) -> None:
    small, large = _call(), _large_call()
    answers = [_post(service, call, _token(service.base)) for call in (small, large)]
    assert [answer.status_code for answer in answers] == [200, 200]
    summaries = [[card["summary"] for card in a.json()["cards"]] for a in answers]
    assert summaries[0] == summaries[1]  # the heart rates are not read; the thread path answers


# --- Logs ---------------------------------------------------------------------------------


def test_logs_hold_no_patient_data_tokens_or_forged_lines(
    service: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    record = PatientRecord.model_validate_json(example_paths()[1].read_bytes())
    record = record.model_copy(update={"patient_id": SECRET})
    token = _token(service.base)
    with caplog.at_level(logging.INFO, logger="fbss_pathway.cds_hooks"):
        call = _call(record)
        call["hookInstance"] = f"{SECRET}\nFORGED log line"
        assert _post(service, call, token).status_code == 200
        assert _post(service, call, "garbage").status_code == 401
        bad = _call(record)
        bad["prefetch"]["observations"]["entry"][0]["resource"]["valueInteger"] = SECRET
        assert _post(service, bad, _token(service.base)).status_code == 400
        feedback = {
            "feedback": [
                {
                    "card": SECRET + "x" * 1_000_000,
                    "outcome": "overridden",
                    "overrideReason": {"userComment": f"patient {SECRET} declined"},
                    "outcomeTimestamp": "2026-11-21T10:00:00Z",
                }
            ]
        }
        path = f"/cds-services/{SERVICE_ID}/feedback"
        response = httpx2.post(
            f"{service.base}{path}",
            json=feedback,
            headers={"authorization": f"Bearer {_token(service.base, path=path)}"},
            timeout=30,
        )
        assert response.status_code == 200
    text = caplog.text
    assert SECRET not in text
    assert "FORGED" not in text
    assert token not in text
    assert len(text) < 10_000
    events = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "fbss_pathway.cds_hooks"
    ]
    assert {"hook", "refused", "feedback"} <= {event["event"] for event in events}
    assert all(event.get("hook_instance", "(not a UUID)") == "(not a UUID)" for event in events)


def test_cors_is_off_unless_an_origin_is_given(service: LoopbackServer) -> None:
    token = _token(service.base, path="/cds-services")
    response = httpx2.get(
        f"{service.base}/cds-services",
        headers={"authorization": f"Bearer {token}", "origin": "https://sandbox.example"},
    )
    assert "access-control-allow-origin" not in response.headers
    with pytest.raises(ValueError, match="refused together with authentication"):
        create_app(authenticator=Authenticator((), "http://x"), cors_origins=["*"])


# --- Replays across worker processes ---------------------------------------------------------


def test_worker_processes_sharing_a_register_accept_a_token_once(tmp_path: Any) -> None:
    """Two authenticators, as two worker processes have, with one shared register."""
    clients = (TrustedClient(ISSUER, jwks={"keys": [_jwk(EC_KEY, "ec-1")]}),)
    base = "https://cds.example.org"
    path = f"/cds-services/{SERVICE_ID}"
    first, second = (
        Authenticator(clients, base, replays=SharedReplays(tmp_path / "seen.sqlite", LEEWAY))
        for _ in range(2)
    )
    token = _token(base)
    assert first.verify(f"Bearer {token}", path).issuer == ISSUER
    with pytest.raises(AuthError, match="replayed"):
        second.verify(f"Bearer {token}", path)
    assert second.verify(f"Bearer {_token(base)}", path).issuer == ISSUER  # a new jti passes
    later = Authenticator(
        clients,
        base,
        replays=SharedReplays(tmp_path / "seen.sqlite", LEEWAY),
        clock=lambda: time.time() + 3600,  # long after the first token expired
    )
    assert later.replays is not None
    assert later.replays.first_use(ISSUER, "old-jti", time.time() - 60, time.time() + 3600)
    assert "MRN" not in (tmp_path / "seen.sqlite").read_bytes().decode("latin-1")


def test_a_replayed_token_is_refused_by_every_worker_of_a_served_service(tmp_path: Any) -> None:
    clients = tmp_path / "clients.toml"
    key_set = json.dumps({"keys": [_jwk(EC_KEY, "ec-1")]})
    clients.write_text(f"[[client]]\nissuer = {json.dumps(ISSUER)}\njwks = '{key_set}'\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "fbss_pathway", "serve", "--port", str(port)]
    command += ["--workers", "2", "--clients", str(clients), "--base-url", base]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # discovery needs a token here: any answer means the workers are up
            try:
                httpx2.get(f"{base}/cds-services", timeout=5)
                break
            except httpx2.TransportError:
                assert server.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        token = _token(base)
        codes = []
        for _ in range(6):  # each request may reach either worker
            response = httpx2.post(
                f"{base}/cds-services/{SERVICE_ID}",
                json=_call(),
                headers={"authorization": f"Bearer {token}"},
                timeout=30,
            )
            codes.append(response.status_code)
        assert codes == [200, 401, 401, 401, 401, 401]
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert err.count("Started server process") == 2
