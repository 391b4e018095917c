"""Requests are signed as BTCTurk signs them, and each failure gets the venue's message."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from mock_exchange.auth import sign, verify
from mock_exchange.errors import VenueError

KEY = "9b0a8437-89fd-4fcd-8f1b-5b2c3e1a0d11"
SECRET = base64.b64decode("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==")
NOW = 1_700_000_000_000


def secret_of(key: str) -> bytes | None:
    return SECRET if key == KEY else None


def headers(stamp: int = NOW, key: str = KEY, signature: str | None = None) -> dict[str, str]:
    return {
        "x-pck": key,
        "x-stamp": str(stamp),
        "x-signature": signature if signature is not None else sign(key, SECRET, stamp),
    }


def failure(h: dict[str, str]) -> str:
    with pytest.raises(VenueError) as caught:
        verify(h, secret_of, NOW)
    assert caught.value.status == 401 and caught.value.code == 1037
    return caught.value.message


def test_the_signature_is_hmac_sha256_over_key_and_stamp_with_the_decoded_secret() -> None:
    expected = base64.b64encode(
        hmac.new(SECRET, f"{KEY}{NOW}".encode(), hashlib.sha256).digest()
    ).decode()
    assert sign(KEY, SECRET, NOW) == expected
    assert verify(headers(), secret_of, NOW) == KEY


def test_a_stamp_within_five_seconds_either_way_is_accepted() -> None:
    assert verify(headers(NOW - 5000), secret_of, NOW) == KEY
    assert verify(headers(NOW + 5000), secret_of, NOW) == KEY


def test_each_failure_has_the_venues_message() -> None:
    assert failure({"x-pck": KEY}) == "Unauthorized - Headers are missing"
    assert failure(headers(key="someone-else")) == "Unauthorized - Invalid Public key"
    assert failure(headers(NOW - 5001)) == "Unauthorized - Invalid Nonce"
    assert failure(headers(NOW // 1000)) == "Unauthorized - Invalid Nonce"  # seconds, not ms
    assert failure({**headers(), "x-stamp": "12a"}) == "Unauthorized - Invalid Nonce"
    assert failure({**headers(), "x-stamp": "\u00b2"}) == "Unauthorized - Invalid Nonce"
    assert failure(headers(signature="AAAA")) == "Unauthorized - Invalid Signature"
    other = sign(KEY, b"another secret", NOW)
    assert failure(headers(signature=other)) == "Unauthorized - Invalid Signature"
