"""HMAC request authentication, checked as the venue does (reference §2). Pure.

``X-Signature = base64(HMAC_SHA256(base64decode(secret), X-PCK + X-Stamp))``; only the
key and the stamp are signed. The stamp is Unix milliseconds and must lie within
``window_ms`` of the venue's clock. Every failure is HTTP 401 with code 1037.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping

from mock_exchange import errors

__all__ = ["STAMP_WINDOW_MS", "sign", "verify"]

STAMP_WINDOW_MS = 5_000


def sign(public_key: str, secret: bytes, stamp: int | str) -> str:
    digest = hmac.new(secret, f"{public_key}{stamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(
    headers: Mapping[str, str],
    secret_of: Callable[[str], bytes | None],
    now: int,
    window_ms: int = STAMP_WINDOW_MS,
) -> str:
    """The public key of a correctly signed request; raises the venue's 401 otherwise."""
    key = headers.get("x-pck")
    stamp_text = headers.get("x-stamp")
    signature = headers.get("x-signature")
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
    expected = sign(key, secret, stamp_text).encode("ascii")
    if not hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace")):
        raise errors.AUTH_INVALID_SIGNATURE()
    return key
