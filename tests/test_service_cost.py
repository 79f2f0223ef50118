"""The authenticated call made cheaper (issue 25): the cheaper paths answer exactly as before.

Each shortcut is held against the path it replaced: the token's unverified parse
against PyJWT's, the path a call names against Starlette's ``request.url.path``,
a kept call's packing against the JSON writer's, and the whole service (with
authentication, as ``serve`` runs it) against the cards and refusals of the
prefetch read through the plain path, ``read_bundle(bundle_of(prefetch))``.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import date
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm
from starlette.requests import Request
from starlette.testclient import TestClient

from fbss_pathway import PatientRecord
from fbss_pathway.cds_hooks.auth import Authenticator, AuthError, TrustedClient, _unverified
from fbss_pathway.cds_hooks.cards import cards, rule_titles
from fbss_pathway.cds_hooks.hooks import SERVICE_ID, prefetch_from_bundle
from fbss_pathway.cds_hooks.prefetch import bundle_of
from fbss_pathway.cds_hooks.protocol import OneWriteTransport
from fbss_pathway.cds_hooks.report_links import StoredCall
from fbss_pathway.cds_hooks.service import _path, create_app
from fbss_pathway.cli import example_paths
from fbss_pathway.fhir import FhirError, bundle_from_record, read_bundle
from fbss_pathway.fhir.codes import SCALAR_ITEMS
from fbss_pathway.fhir.values import _fit, fit
from fbss_pathway.rules_engine.loading import read_rule_directory
from fbss_pathway.ruleset import RuleSet, default_rules_path, default_ruleset

from .servers import LoopbackServer, free_port

ASSESSED = date(2026, 10, 1)
ISSUER = "https://ehr.example.org"
BASE = "https://cds.example.org"
HOOK = f"/cds-services/{SERVICE_ID}"
KEY = ec.generate_private_key(ec.SECP384R1())


def _examples() -> list[PatientRecord]:
    return [PatientRecord.model_validate_json(p.read_bytes()) for p in example_paths()]


# --- The token's unverified parse ------------------------------------------------------------


def _pyjwt(token: str) -> Any:
    """What PyJWT's unverified parse gives: header and claims, or the refusal."""
    try:
        parsed = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "the bearer token is not a JWT"
    return parsed["header"], parsed["payload"]


def _ours(token: str) -> Any:
    try:
        return _unverified(token)
    except AuthError as error:
        return error.reason


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["ES384", "RS384", "none", 7])},
    optional={
        "kid": st.one_of(st.text(max_size=4), st.none(), st.integers()),
        "b64": st.booleans(),
        "crit": st.one_of(st.lists(st.sampled_from(["b64", "exp", 1])), st.just("b64")),
        "jku": st.text(max_size=4),
    },
)
_PART = st.one_of(
    _HEADERS.map(lambda header: json.dumps(header).encode()),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=12),  # not JSON, or not UTF-8
    st.just(b'{"a": 1, "a": 2}'),  # a repeated name: the last one counts, in both
    st.just(b"[" * 3000 + b"]" * 3000),  # nested past the recursion limit
)
_CHARACTERS = st.sampled_from([*list("AQgwBRhx_-=.+/ !é\t"), "", "=="])


def _not_canonical(segment: str) -> str:
    """The same bytes, written with unused bits set (a segment of 4n + 2 or 4n + 3 characters)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(segment) % 4 in (2, 3)
    assert alphabet.index(segment[-1]) % 4 == 0
    changed = segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]
    assert base64.urlsafe_b64decode(changed + "==") == base64.urlsafe_b64decode(segment + "==")
    return changed


@st.composite
def _tokens(draw: st.DrawFn) -> str:
    """Tokens of three segments, then some changed at one place (the edges PyJWT refuses)."""
    token = ".".join(
        [_segment(draw(_PART)), _segment(draw(_PART)), _segment(draw(st.binary(max_size=9)))]
    )
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(token)))
        cut = draw(st.integers(0, 1))
        token = token[:at] + draw(_CHARACTERS) + token[at + cut :]
    return token


@given(_tokens())
def test_the_unverified_parse_is_pyjwts(token: str) -> None:
    assert _ours(token) == _pyjwt(token)


def test_the_unverified_parse_is_pyjwts_on_the_tokens_that_matter() -> None:
    now = int(time.time())
    for padding in range(3):  # claims whose segment has unused bits to set
        claims = {"iss": ISSUER, "aud": BASE + HOOK, "exp": now, "iat": now, "jti": "j" * padding}
        signed = jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1"})
        header, payload, signature = signed.split(".")
        if len(payload) % 4:
            break
    for token in [
        signed,
        f"{header}.{payload}.",  # no signature
        f"{header}.{payload}",  # two segments
        f"{header}.{payload}.{signature}.x",  # four
        f"{header}.{payload}=.{signature}",  # padded
        f"{_not_canonical(header)}.{payload}.{signature}",
        f"{header}.{_not_canonical(payload)}.{signature}",
        f"{header}.{payload}.{_not_canonical(_segment(bytes(95)))}",
        f"{header}..{signature}",
        *(
            f"{_segment(json.dumps(odd).encode())}.{payload}.{signature}"
            for odd in [
                {"alg": "ES384", "kid": "k1", "b64": True},
                {"alg": "ES384", "kid": "k1", "b64": False},
                {"alg": "ES384", "kid": "k1", "crit": ["b64"], "b64": True},
                {"alg": "ES384", "kid": "k1", "crit": ["exp"]},
                {"alg": "ES384", "kid": None},
                {"alg": "ES384", "kid": 1},
                {"alg": "ES384"},
                ["ES384", "k1"],
            ]
        ),
        f"{header}.{_segment(b'[1, 2]')}.{signature}",
        f"{header}.{_segment(b'{}')}.{signature}",
        "garbage",
        "",
        "é.é.é",
    ]:
        assert _ours(token) == _pyjwt(token), token
    assert _ours(signed) == ({"alg": "ES384", "kid": "k1", "typ": "JWT"}, claims)


def test_rule_titles_are_made_once_per_rule_set() -> None:
    rules = default_ruleset()
    titles = rule_titles(rules)
    assert dict(titles) == {rule.id: rule.title for rule in rules.rules}
    assert rule_titles(rules) is titles
    other = RuleSet(read_rule_directory(default_rules_path()))  # the same files, loaded anew
    assert rule_titles(other) == titles
    assert rule_titles(other) is not titles


# --- What the reader remembers between calls -------------------------------------------------

_VALUES = st.one_of(
    st.booleans(),
    st.integers(-3, 400),
    st.floats(-1, 400, allow_nan=False),
    st.sampled_from(["yes", "no", "unknown", "recommended", " yes ", "", "Yes", "x" * 65]),
    st.text(max_size=8),
    st.dates(date(1899, 1, 1), date(2100, 1, 1)),
)


@given(st.sampled_from(sorted(SCALAR_ITEMS)), _VALUES)
def test_a_value_fits_an_item_as_when_checked_anew(item: str, value: Any) -> None:
    assert fit(item, value) == fit(item, value) == _fit(item, value)


def test_values_equal_in_python_but_not_in_kind_are_remembered_apart() -> None:
    values: list[Any] = [True, 1, 1.0, "1", False, 0, 0.0, "", date(2026, 1, 1), "2026-01-01"]
    for item in sorted(SCALAR_ITEMS):
        for order in (values, values[::-1]):
            for value in order:
                assert fit(item, value) == _fit(item, value), (item, value)


# --- The path a call names -------------------------------------------------------------------

_PATH_CHARACTERS = st.sampled_from(list("/abAZ09._~%:@!$&'()*+,;=-?#\\ \t\n\x00[]é\x7f"))


@given(
    st.lists(_PATH_CHARACTERS, max_size=12).map("".join),
    st.booleans(),
    st.booleans(),
)
def test_the_called_path_is_starlettes(path: str, host: bool, server: bool) -> None:
    scope: dict[str, Any] = {
        "type": "http",
        "path": path,
        "headers": [(b"host", b"cds.example.org:8443")] if host else [],
        "query_string": b"a=1",
        "scheme": "https",
    }
    if server:
        scope["server"] = ("127.0.0.1", 443)

    def answer(read: Callable[[Request], str]) -> Any:
        try:
            return read(Request(scope))
        except ValueError as error:  # urlsplit refuses some (an unmatched '[')
            return str(error)

    assert answer(_path) == answer(lambda request: request.url.path)


# --- A kept call, packed ---------------------------------------------------------------------


def _packed_as_before(stored: StoredCall) -> dict[str, Any]:
    """What the JSON writer wrote for a kept call, read back."""
    data = {
        "record": stored.record.model_dump(mode="json", exclude_none=True),
        "unread": stored.unread,
        "assessed": stored.assessed.isoformat(),
    }
    read: dict[str, Any] = json.loads(json.dumps(data, separators=(",", ":")))
    return read


@pytest.mark.parametrize(
    "unread",
    [
        {},
        {"conditions": "the FHIR server answered 500", "questionnaireResponses": "not sent"},
        {"observations": "d\u00e9j\u00e0 \U0001f600"},  # written as UTF-8, not escaped
        {"observations": "half a pair \ud800"},  # no UTF-8 for it: the JSON writer's turn
    ],
)
def test_a_kept_call_packs_to_what_the_json_writer_wrote(unread: dict[str, str]) -> None:
    for record in _examples():
        stored = StoredCall(record, unread, ASSESSED)
        packed = stored.pack()
        assert json.loads(zlib.decompress(packed)) == _packed_as_before(stored)
        back = StoredCall.unpack(packed)
        assert (back.record, back.unread, back.assessed) == (record, unread, ASSESSED)


# --- The whole call, against the plain path --------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    public = {**ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}
    authenticator = Authenticator((TrustedClient(ISSUER, jwks={"keys": [public]}),), BASE)
    app = create_app(authenticator=authenticator, today=lambda: ASSESSED, report_base=BASE)
    with TestClient(app, base_url=BASE) as test_client:
        yield test_client


def _post(client: TestClient, body: dict[str, Any] | bytes) -> Any:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": BASE + HOOK, "exp": now + 300, "iat": now}
    token = jwt.encode(
        {**claims, "jti": str(uuid.uuid4())}, KEY, algorithm="ES384", headers={"kid": "k1"}
    )
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return client.post(HOOK, content=content, headers=headers)


def _call(prefetch: dict[str, Any], patient_id: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": patient_id},
        "prefetch": prefetch,
    }


def _plain(prefetch: dict[str, Any], patient_id: str) -> tuple[int, Any]:
    """The answer read through the plain path: cards without their uuid and link, or the 400."""
    try:
        reading = read_bundle(bundle_of(prefetch), assessment_date=ASSESSED, patient_id=patient_id)
    except FhirError as error:
        return 400, str(error)
    recommendation = reading.evaluate(ruleset=default_ruleset(), ladder=False)
    if recommendation is None:
        return 200, []
    return 200, cards(recommendation, ruleset=default_ruleset(), record=reading.record)


def _served(client: TestClient, body: dict[str, Any]) -> tuple[int, Any]:
    response = _post(client, body)
    answer = response.json()
    if response.status_code != 200:
        assert answer["resourceType"] == "OperationOutcome"
        return response.status_code, answer["issue"][0]["diagnostics"]
    for card in answer["cards"]:
        assert card.pop("links")[0]["url"].startswith(f"{BASE}/reports/")
    return 200, answer["cards"]


def _without_uuids(answer: tuple[int, Any]) -> tuple[int, Any]:
    status, found = answer
    if isinstance(found, list):
        found = [{k: v for k, v in card.items() if k != "uuid"} for card in found]
    return status, found


def _malformed(prefetch: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The prefetch spoiled in the ways a client may spoil it."""
    observations = prefetch["observations"]
    changes: list[Callable[[dict[str, Any]], None]] = [
        lambda p: p["observations"]["entry"][0]["resource"].update(valueInteger="MRN-1"),
        lambda p: p["observations"]["entry"][0].update(resource=["not", "an", "object"]),
        lambda p: p["observations"]["entry"].insert(0, "not an entry"),
        lambda p: p["observations"].update(entry={"not": "an array"}),
        lambda p: p.update(patient="Patient/123"),
        lambda p: p.update(procedures=None),
        lambda p: p.update(unnamed=[1, 2]),
        lambda p: p["patient"].update(resourceType=7),
        lambda p: p["patient"].update(id="someone-else"),
        lambda p: p["observations"]["entry"][0]["resource"].update(
            subject={"reference": "Patient/someone-else"}
        ),
    ]
    if observations is not None:
        for change in changes:
            spoiled = copy.deepcopy(prefetch)
            change(spoiled)
            yield spoiled


@pytest.mark.parametrize("index", range(len(example_paths())))
def test_each_example_and_its_spoiled_calls_are_answered_as_the_plain_path_reads(
    client: TestClient, index: int
) -> None:
    record = _examples()[index]
    patient_id = record.patient_id or "anonymous"
    prefetch = prefetch_from_bundle(bundle_from_record(record))
    statuses = set()
    for spoiled in [prefetch, *_malformed(prefetch)]:
        expected = _without_uuids(_plain(spoiled, patient_id))
        assert _without_uuids(_served(client, _call(spoiled, patient_id))) == expected
        statuses.add(expected[0])
    assert statuses == {200, 400}  # both kinds of answer were compared


@pytest.mark.parametrize(
    ("body", "status", "diagnostics"),
    [
        (b"{not json", 400, "the request body is not valid JSON"),
        (b"[1, 2]", 400, "the request body must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "the request body is nested too deeply"),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {}}', 400, "patientId"),
        (b'{"hook": "order-sign", "hookInstance": "x"}', 400, "expected hook 'patient-view'"),
        (
            b'{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p"}}',
            412,
            "required prefetch missing",
        ),
    ],
)
def test_malformed_bodies_are_refused_as_before(
    client: TestClient, body: bytes, status: int, diagnostics: str
) -> None:
    response = _post(client, body)
    assert response.status_code == status
    assert diagnostics in response.json()["issue"][0]["diagnostics"]


# --- One write an answer ---------------------------------------------------------------------


class _Recorded:
    """A transport that records what is written."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def test_the_head_leaves_with_the_body_and_a_100_continue_at_once() -> None:
    recorded, cycle, done = _Recorded(), SimpleNamespace(response_started=False), []
    transport = OneWriteTransport(recorded, cycle, lambda: done.append(True))  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts
    assert recorded.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    cycle.response_started = True
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert len(recorded.writes) == 1  # held
    transport.write(b"body")
    transport.write(b"more")
    assert recorded.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    transport.responded()
    assert done == [True]
    assert len(recorded.writes) == 3
    assert transport.get_extra_info("peername") == "info peername"


def test_a_head_without_a_body_leaves_when_the_answer_is_complete_or_closed() -> None:
    for end in ("responded", "close"):
        recorded, cycle = _Recorded(), SimpleNamespace(response_started=True)
        transport = OneWriteTransport(recorded, cycle, lambda: None)  # type: ignore[arg-type]
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n")
        assert recorded.writes == []
        getattr(transport, end)()
        assert recorded.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"]
        assert recorded.closed is (end == "close")


async def _plain_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"got " + body if body else b"hello"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def _read_until(connection: socket.socket, ending: bytes, count: int = 1) -> bytes:
    received = b""
    while received.count(ending) < count:
        part = connection.recv(65536)
        assert part, received  # the server closed before the answer was whole
        received += part
    return received


def test_answers_to_get_head_100_continue_and_pipelined_calls_arrive_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[bytes] = []
    write = OneWriteTransport.write

    def recording(self: OneWriteTransport, data: bytes) -> None:
        sent.append(data)
        write(self, data)

    monkeypatch.setattr(OneWriteTransport, "write", recording)
    with (
        LoopbackServer(_plain_app, free_port()) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection,
    ):
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_until(connection, b"hello").startswith(b"HTTP/1.1 200 OK")
        connection.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = _read_until(connection, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert head.endswith(b"content-length: 5\r\n\r\n")
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        # The interim answer comes before the body is sent, or this would wait forever.
        assert _read_until(connection, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(b"data")
        assert _read_until(connection, b"got data").startswith(b"HTTP/1.1 200 OK")
        connection.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        both = _read_until(connection, b"hello")
        assert both.count(b"HTTP/1.1 200 OK") == 2
    # The server wrote through it: the GET's head, then its body (joined below it).
    assert sent[0].startswith(b"HTTP/1.1 200 OK")
    assert sent[1] == b"hello"
