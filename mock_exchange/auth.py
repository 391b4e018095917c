"""HMAC request authentication, checked as the venue does (reference §2). Pure.

``X-Signature = base64(HMAC_SHA256(base64decode(secret), X-PCK + X-Stamp))``; only the
key and the stamp are signed. The stamp is Unix milliseconds and must lie within
``window_ms`` of the venue's clock. Every failure is HTTP 401 with code 1037.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Iterable, Mapping

from mock_exchange import errors

__all__ = ["AUTH_HEADERS", "STAMP_WINDOW_MS", "auth_headers", "sign", "verify", "verify_raw"]

STAMP_WINDOW_MS = 5_000
AUTH_HEADERS = (b"x-pck", b"x-stamp", b"x-signature")


def auth_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The three auth headers from an ASGI header list (names arrive lower-cased), read once.

    A repeated header keeps its first value, as Starlette's ``Headers.get`` does.
    """
    found: dict[str, str] = {}
    for name, value in raw:
        if name in AUTH_HEADERS:
            found.setdefault(name.decode("ascii"), value.decode("latin-1"))
    return found


def sign(public_key: str, secret: bytes, stamp: int | str) -> str:
    digest = hmac.digest(secret, f"{public_key}{stamp}".encode(), "sha256")
    return base64.b64encode(digest).decode("ascii")


# HMAC states with a secret already taken in, one per secret: the venue checks every
# private request against one of a few secrets, and a copied state skips half the work.
# Bounded, so that callers inventing secrets cannot grow it without end.
_KEYED: dict[bytes, hmac.HMAC] = {}
_KEYED_MAX = 1024


def _signature(public_key: str, secret: bytes, stamp: str) -> bytes:
    """``sign(...)`` as ASCII bytes, for comparing."""
    if type(secret) is not bytes:  # unhashable (a bytearray): no keyed state for it
        return sign(public_key, secret, stamp).encode("ascii")
    keyed = _KEYED.get(secret)
    if keyed is None:
        if len(_KEYED) >= _KEYED_MAX:
            _KEYED.clear()
        keyed = _KEYED[secret] = hmac.new(secret, digestmod="sha256")
    mac = keyed.copy()
    mac.update(f"{public_key}{stamp}".encode())
    return binascii.b2a_base64(mac.digest(), newline=False)  # what base64.b64encode gives


def verify(
    headers: Mapping[str, str],
    secret_of: Callable[[str], bytes | None],
    now: int,
    window_ms: int = STAMP_WINDOW_MS,
) -> str:
    """The public key of a correctly signed request; raises the venue's 401 otherwise."""
    return _verify(
        headers.get("x-pck"),
        headers.get("x-stamp"),
        headers.get("x-signature"),
        secret_of,
        now,
        window_ms,
    )


def verify_raw(
    raw: Iterable[tuple[bytes, bytes]],
    secret_of: Callable[[str], bytes | None],
    now: int,
    window_ms: int = STAMP_WINDOW_MS,
) -> str:
    """``verify(auth_headers(raw), ...)`` in one pass over an ASGI header list."""
    key = stamp = signature = None
    for name, value in raw:  # a repeated header keeps its first value, as in auth_headers
        if name == b"x-pck" and key is None:
            key = value.decode("latin-1")
        elif name == b"x-stamp" and stamp is None:
            stamp = value.decode("latin-1")
        elif name == b"x-signature" and signature is None:
            signature = value.decode("latin-1")
    return _verify(key, stamp, signature, secret_of, now, window_ms)


def _verify(
    key: str | None,
    stamp_text: str | None,
    signature: str | None,
    secret_of: Callable[[str], bytes | None],
    now: int,
    window_ms: int,
) -> str:
    if not key or not stamp_text or not signature:
        raise errors.AUTH_HEADERS_MISSING()
    secret = secret_of(key)
    if secret is None:
        raise errors.AUTH_INVALID_PUBLIC_KEY()
    stamp_text = stamp_text.strip()
    if not (stamp_text.isascii() and stamp_text.isdigit()) or len(stamp_text) > 16:
        raise errors.AUTH_INVALID_NONCE()
    if abs(int(stamp_text) - now) > window_ms:
        raise errors.AUTH_INVALID_NONCE()
    expected = _signature(key, secret, stamp_text)
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace")):
        raise errors.AUTH_INVALID_SIGNATURE()
    return key
