"""Trusting CDS clients: the JWT bearer token an EHR signs on every call (CDS Hooks 2.0).

The service verifies, on every call, the token's signature against the
client's JSON Web Key Set, and the claims the specification requires: ``iss``
one of the configured trusted clients, ``aud`` this service's own endpoint URL,
``exp`` and ``iat`` (numbers, the lifetime ``exp - iat`` at most
:data:`MAX_LIFETIME` plus :data:`LEEWAY`), ``jti`` (a token seen before within
its lifetime is a replay), ``kid`` in the header. A ``jku`` header is followed
only when it is on that client's allow-list, and not at all when the client's
configured ``jwks`` already holds the token's ``kid`` (a service without access
to the URL, or one that pins the client's keys). Key sets fetched from a URL are
cached; a token naming a kid the cache lacks makes the service fetch the set
again at most once every :data:`REFETCH_SECONDS` per client, never while holding
a lock, each fetch bounded as a whole (:data:`KEY_FETCH_SECONDS`) and following
no redirect. Failures raise :class:`AuthError` whose reason names what is wrong,
never the token. Signatures are checked by PyJWT with ``cryptography``; no
cryptography is written here. A clients file holding private or secret key
material is refused: the service needs only public keys.

Clients are configured in a TOML file (:mod:`.clients`).
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from .bounded_http import open_bounded
from .clients import ClientsError, TrustedClient, key_set, load_clients
from .replay import MemoryReplays, RegisterUnavailableError, ReplayRegister

__all__ = [
    "ALGORITHMS",
    "KEY_FETCH_SECONDS",
    "LEEWAY",
    "MAX_LIFETIME",
    "REFETCH_SECONDS",
    "AuthError",
    "Authenticator",
    "ClientsError",
    "KeyNotCachedError",
    "TrustedClient",
    "load_clients",
]

#: Signature algorithms accepted (the specification requires ES384 and RS384 support).
ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512")
#: How much clock difference between EHR and service is tolerated, in seconds.
LEEWAY = 30
#: The longest token lifetime accepted, ``exp - iat`` in seconds, beyond :data:`LEEWAY`
#: (CDS Hooks recommends 5 minutes; a token of 5 minutes and 30 s is still accepted).
MAX_LIFETIME = 300
#: The largest key set fetched from a URL, in bytes.
MAX_JWKS_BYTES = 256 * 1024
#: Seconds a key set fetch may take as a whole (connecting to the last byte).
KEY_FETCH_SECONDS = 5.0
#: A client's key set is fetched again for an unknown kid at most once in this many seconds.
REFETCH_SECONDS = 60.0


class KeyNotCachedError(Exception):
    """Verifying this token needs a key set fetched first: verify it where waiting is allowed.

    Raised by :meth:`Authenticator.verify` called with ``may_fetch=False`` (the
    service's event loop, which must not wait on the network) before anything
    is counted or fetched.
    """


class AuthError(Exception):
    """A call that is not from a trusted client; ``reason`` says why (never the token)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _fetch(url: str) -> Any:
    """A key set from a URL: no redirect followed, bounded in size and, as a whole, in time.

    Raises:
        OSError: not fetched (an HTTP error, a redirect, no answer in time).
        ValueError: not JSON, or too large.
    """
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with open_bounded(request, KEY_FETCH_SECONDS) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the answer's connection
        raise OSError(f"the key server answered {error.code}") from None
    except http.client.HTTPException:
        raise OSError("the key server's answer is not HTTP") from None
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError("the key set is too large")
    try:
        return json.loads(body)
    except RecursionError:  # nested too deeply to read
        raise ValueError("the key set is not JSON") from None


@dataclass(slots=True)
class Authenticator:
    """Verifies CDS clients' tokens for one service base URL.

    Args:
        clients: The trusted clients.
        base_url: The service's public base URL; a token's ``aud`` must be
            ``{base_url}/cds-services/{service id}``.
        fetch: Reads a JWK Set from a URL (blocking; called off the event loop).
        clock: Seconds since the epoch, for the replay register.
        replays: Where seen token ids are kept; this process's memory by default.
            Worker processes of one service share one (``SharedReplays``).
        monotonic: Seconds on a clock that never goes back, for refetching key sets.
    """

    clients: tuple[TrustedClient, ...]
    base_url: str
    fetch: Callable[[str], Any] = _fetch
    clock: Callable[[], float] = time.time
    _keys: dict[str, dict[str, jwt.PyJWK]] = field(default_factory=dict)
    replays: ReplayRegister | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    monotonic: Callable[[], float] = time.monotonic
    #: When each client's key set was last fetched (begun), by issuer.
    _fetched_at: dict[str, float] = field(default_factory=dict)
    #: The key set sources fetched (or tried) at least once.
    _tried: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.replays is None:
            self.replays = MemoryReplays(LEEWAY)
        for client in self.clients:
            if client.jwks is not None:
                self._keys[client.issuer] = key_set(client.jwks)

    def audience(self, path: str) -> str:
        """The ``aud`` a token for an endpoint must carry: its URL (``/cds-services/{id}``)."""
        return f"{self.base_url}{path}"

    def verify(
        self, authorization: str | None, path: str, *, may_fetch: bool = True
    ) -> TrustedClient:
        """The trusted client a call's bearer token is from; AuthError when it is not trusted.

        Args:
            authorization: The request's Authorization header.
            path: The endpoint called, e.g. ``/cds-services/fbss-pathway``.
            may_fetch: Whether this call may wait on the network for a key set.
                When False, a token whose key is not cached raises
                :class:`KeyNotCachedError` instead (nothing is fetched or counted).

        Raises:
            AuthError: the token is not from a trusted client (the reason says why).
            KeyNotCachedError: ``may_fetch`` is False and a key set must be fetched.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("no bearer token")
        token = token.strip()
        # Which client and key: one unverified parse, then PyJWT's verified one.
        header, unverified = _unverified(token)
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise AuthError("the token's signature algorithm is not accepted")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token's header has no kid")
        client = next((c for c in self.clients if c.issuer == unverified.get("iss")), None)
        if client is None:
            raise AuthError("the token's issuer is not a trusted client")
        _numeric_times(unverified)  # before PyJWT, which would read "1796531994" as a time
        key = self._key(client, kid, header.get("jku"), may_fetch)
        if not algorithm.startswith({"EC": "ES", "RSA": "RS"}.get(key.key_type or "", "?")):
            raise AuthError("the token's algorithm does not fit the key its kid names")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience(path),
                issuer=client.issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the token's aud is not this service's endpoint") from None
        except jwt.MissingRequiredClaimError as error:
            raise AuthError(f"the token has no {error.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token is issued in the future") from None
        except jwt.InvalidSignatureError:
            raise AuthError("the token's signature does not verify") from None
        except (jwt.PyJWTError, TypeError, ValueError) as error:
            raise AuthError(f"the token is not valid ({type(error).__name__})") from None
        _lifetime(claims)
        self._not_replayed(client.issuer, claims)
        return client

    def _key(self, client: TrustedClient, kid: str, jku: Any, may_fetch: bool) -> jwt.PyJWK:
        if jku is not None:
            if jku not in client.jku:
                raise AuthError("the token's jku is not on this client's allow-list")
            configured = self._keys.get(client.issuer, {})
            if client.jwks is not None and kid in configured:
                # The key the allow-listed jku would serve is configured already (a
                # service that cannot reach the URL, or pins the client's key).
                return configured[kid]
            source = f"jku:{jku}"
            url: str | None = jku
        else:
            source, url = client.issuer, client.jwks_url
        with self._lock:
            keys = self._keys.get(source)
        if (keys is None or kid not in keys) and url is not None:
            if not may_fetch:
                raise KeyNotCachedError
            # A new kid: the client may have rotated its keys. Fetched again at most
            # once a minute per client, so that tokens naming unknown kids cannot make
            # the service fetch on every call; other calls never wait for the fetch.
            if not self._may_fetch(client.issuer, source):
                raise AuthError(
                    "the token's kid is not in the client's key set "
                    f"(fetched again at most once in {REFETCH_SECONDS:g} s)"
                )
            keys = self._refresh(source, url)
        if keys is None or kid not in keys:
            raise AuthError("the token's kid is not in the client's key set")
        return keys[kid]

    def _may_fetch(self, issuer: str, source: str) -> bool:
        """Whether a key set may be fetched now; if so, the fetch is counted as begun.

        A source never fetched before may be; one fetched (or tried) before only
        when the client's last fetch began :data:`REFETCH_SECONDS` ago or more.
        """
        now = self.monotonic()
        with self._lock:
            last = self._fetched_at.get(issuer)
            if source in self._tried and last is not None and now - last < REFETCH_SECONDS:
                return False
            self._tried.add(source)
            self._fetched_at[issuer] = now
            return True

    def _refresh(self, source: str, url: str) -> dict[str, jwt.PyJWK]:
        try:  # no lock held: a slow key server holds this call only
            keys = key_set(self.fetch(url))
        except (OSError, ValueError):
            raise AuthError("the client's key set could not be fetched") from None
        with self._lock:
            self._keys[source] = keys
        return keys

    def _not_replayed(self, issuer: str, claims: Mapping[str, Any]) -> None:
        assert self.replays is not None  # set in __post_init__
        try:
            first = self.replays.first_use(
                issuer, str(claims["jti"]), float(claims["exp"]), self.clock()
            )
        except RegisterUnavailableError:  # fail closed: a token not checked is not accepted
            raise AuthError(
                "the token could not be checked against the tokens seen; "
                "send the call again with a new token"
            ) from None
        if not first:
            raise AuthError("the token was used before (jti replayed)")


#: A compact JWS as PyJWT's unverified parse reads it without question: three segments of
#: unpadded base64url (header, payload, signature).
_COMPACT = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token's header and claims, unverified, as PyJWT's unverified parse gives them.

    Read only to choose the client and key: the verified parse is PyJWT's, whole.
    PyJWT checks each character of the token in Python (about 25 µs a token);
    here a token of the usual shape is read with one pattern match and the same
    checks (canonical base64url, a JSON object for header and claims, a string
    ``kid``); any other is left to PyJWT, so that every token gets the answer or
    the error PyJWT's parse gives it.

    Raises:
        AuthError: PyJWT cannot parse it ("not a JWT").
    """
    segments = _COMPACT.fullmatch(token)
    if segments is not None:
        try:
            header = json.loads(_base64url(segments[1]))
            claims = json.loads(_base64url(segments[2]))
            _base64url(segments[3])
        except (ValueError, RecursionError):  # binascii.Error is a ValueError
            pass
        else:
            if (
                type(header) is dict
                and type(claims) is dict
                and "b64" not in header
                and "crit" not in header
                and isinstance(header.get("kid", ""), str)
            ):
                return header, claims
    try:
        parsed = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("the bearer token is not a JWT") from None
    return parsed["header"], parsed["payload"]


def _base64url(segment: str) -> bytes:
    """An unpadded base64url segment's bytes; ValueError unless written canonically.

    (PyJWT refuses a segment whose unused bits are not zero: one token, one encoding.)
    """
    if len(segment) % 4 == 1:
        raise ValueError("not base64url")
    data = segment.encode("ascii")
    decoded = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != data:
        raise ValueError("not canonical base64url")
    return decoded


def _numeric_times(claims: Mapping[str, Any]) -> None:
    """Refuse times that are not JSON numbers (RFC 7519 NumericDate).

    PyJWT reads ``"1796531994"`` or ``true`` as a time. Absent times are left to
    PyJWT's required claims.
    """
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AuthError(f"the token's {name} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise AuthError(f"the token's {name} is not a finite number")


def _lifetime(claims: Mapping[str, Any]) -> None:
    """Refuse a lifetime ``exp - iat`` past :data:`MAX_LIFETIME` and :data:`LEEWAY`.

    A long-lived token would be a standing credential, and the replay register
    would keep its id as long.
    """
    if claims["exp"] - claims["iat"] > MAX_LIFETIME + LEEWAY:
        raise AuthError(
            f"the token's lifetime (exp - iat) is longer than {MAX_LIFETIME} s "
            f"(and {LEEWAY} s of leeway)"
        )
