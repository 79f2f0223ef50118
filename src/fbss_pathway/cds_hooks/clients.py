"""The trusted CDS clients, read from the clients file ``fbss-pathway serve --clients`` names.

A client is an EHR whose tokens the service accepts (:mod:`.auth` verifies
them). A clients file holding private or secret key material is refused: the
service needs only public keys, and a key set that cannot be used is refused
when the service starts, not at the first call.

Clients are configured in a TOML file (``fbss-pathway serve --clients``)::

    [[client]]
    issuer = "https://ehr.example.org"
    jwks = { keys = [ { kty = "EC", crv = "P-384", kid = "k1", x = "...", y = "..." } ] }
    # or: jwks = '{"keys": [...]}'   or: jwks_url = "https://ehr.example.org/jwks.json"
    jku = ["https://ehr.example.org/jwks.json"]   # optional allow-list
    fhir_servers = ["https://ehr.example.org/fhir"]  # optional: where data may be fetched
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import jwt

from ..errors import FbssPathwayError

__all__ = ["ClientsError", "TrustedClient", "load_clients"]

#: JWK members that hold private or secret key material (RFC 7518, section 6).
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


class ClientsError(FbssPathwayError, ValueError):
    """A clients file that cannot be used; the message names the entry."""


@dataclass(frozen=True, slots=True)
class TrustedClient:
    """One EHR allowed to call the service."""

    issuer: str
    jwks: Mapping[str, Any] | None = None
    jwks_url: str | None = None
    jku: tuple[str, ...] = ()
    #: FHIR server base URLs the service may fetch from for this client (none: never).
    fhir_servers: tuple[str, ...] = ()


def load_clients(path: str | PathLike[str]) -> tuple[TrustedClient, ...]:
    """Read ``[[client]]`` tables from a TOML file; ClientsError names each bad entry."""
    name = Path(path).name
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ClientsError(
            f"{name}: cannot read the clients file ({type(error).__name__})"
        ) from None
    entries = data.get("client")
    if not isinstance(entries, list) or not entries:
        raise ClientsError(f"{name}: no [[client]] tables")
    clients, problems = [], []
    for number, entry in enumerate(entries, start=1):
        try:
            clients.append(_client(entry))
        except ValueError as error:
            problems.append(f"{name}: [[client]] #{number}: {error}")
    if problems:
        raise ClientsError("\n".join(problems))
    return tuple(clients)


def _client(entry: Any) -> TrustedClient:
    if not isinstance(entry, dict):
        raise ValueError("must be a table")
    unknown = set(entry) - {"issuer", "jwks", "jwks_url", "jku", "fhir_servers"}
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
    issuer = entry.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise ValueError("issuer must be a non-empty string")
    jwks, url = entry.get("jwks"), entry.get("jwks_url")
    if (jwks is None) == (url is None):
        raise ValueError("give exactly one of jwks (the key set) and jwks_url")
    if isinstance(jwks, str):
        try:
            jwks = json.loads(jwks)
        except ValueError:
            raise ValueError("jwks is not a JSON Web Key Set") from None
    if jwks is not None:
        _public_only(jwks)
        key_set(jwks)  # refuse a set that cannot be used now, not at the first call
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("https://", "http://"))
    ):
        raise ValueError("jwks_url must be an http(s) URL")
    lists = {}
    for key in ("jku", "fhir_servers"):
        listed = entry.get(key, [])
        if not isinstance(listed, list) or not all(
            isinstance(u, str) and u.startswith(("https://", "http://")) for u in listed
        ):
            raise ValueError(f"{key} must be a list of http(s) URLs")
        lists[key] = tuple(listed)
    return TrustedClient(issuer, jwks, url, lists["jku"], lists["fhir_servers"])


def _public_only(jwks: Any) -> None:
    """Refuse a configured key set holding private or secret key material (names, never values).

    A clients file should hold what a client publishes; a private key there (the
    CDS Hooks Sandbox's ``keys/jwk-keypair.json`` holds one, with its public key)
    would be a secret copied where it does not belong, and is never needed.
    """
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    for key in keys if isinstance(keys, list) else []:
        found = [name for name in _PRIVATE_MEMBERS if isinstance(key, dict) and name in key]
        if found:
            raise ValueError(
                f"jwks holds private or secret key material ({', '.join(found)}): "
                "give only the client's public key (kty, crv, x, y or n, e, and kid)"
            )


def key_set(data: Any) -> dict[str, jwt.PyJWK]:
    """The keys of a JWK Set by kid; ValueError when it is not one."""
    try:
        keys = jwt.PyJWKSet.from_dict(data).keys
    except (jwt.PyJWKSetError, jwt.PyJWKError, TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"not a usable JSON Web Key Set ({type(error).__name__})") from None
    return {key.key_id: key for key in keys if key.key_id}
