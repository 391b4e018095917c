"""Signing agrees with the mock venue byte for byte; the secret is strict base64 and never
reaches an error message, a repr or a log line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

import pytest

from bot.errors import ConfigError
from bot.exchange.signing import (
    REDACTED,
    Credentials,
    RedactingFilter,
    auth_headers,
    redact,
    ws_login,
)
from mock_exchange.auth import sign, verify
from tests.conftest import ALICE

KEY = ALICE.key
SECRET_B64 = ALICE.secret  # "alice-secret-alice-secret-alice!" in base64
SECRET = base64.b64decode(SECRET_B64)
STAMP = 1_700_000_000_123


@pytest.fixture
def creds() -> Credentials:
    return Credentials.from_base64(KEY, SECRET_B64)


# -- signatures ----------------------------------------------------------------------------


def test_rest_headers_carry_the_key_the_stamp_and_the_mocks_signature(creds: Credentials) -> None:
    headers = auth_headers(creds, STAMP)
    assert headers["X-PCK"] == KEY
    assert headers["X-Stamp"] == "1700000000123"
    assert headers["X-Signature"] == sign(KEY, SECRET, STAMP)
    independent = hmac.new(SECRET, f"{KEY}{STAMP}".encode(), hashlib.sha256).digest()
    assert headers["X-Signature"] == base64.b64encode(independent).decode()


def test_the_mock_venue_accepts_the_headers(creds: Credentials) -> None:
    lowered = {name.lower(): value for name, value in auth_headers(creds, STAMP).items()}
    assert verify(lowered, lambda key: SECRET if key == KEY else None, now=STAMP + 4000) == KEY


def test_the_signature_changes_with_the_stamp(creds: Credentials) -> None:
    first = auth_headers(creds, STAMP)["X-Signature"]
    assert auth_headers(creds, STAMP + 1)["X-Signature"] != first


def test_websocket_login_signs_key_and_nonce_not_the_timestamp(creds: Credentials) -> None:
    frame = ws_login(creds, nonce=3000, timestamp_ms=STAMP)
    assert frame == [
        114,
        {
            "type": 114,
            "publicKey": KEY,
            "timestamp": STAMP,
            "nonce": 3000,
            "signature": sign(KEY, SECRET, 3000),
        },
    ]
    assert frame[1]["signature"] != sign(KEY, SECRET, STAMP)  # type: ignore[index]


@pytest.mark.parametrize("stamp", [-1, True, 1.5, "1700000000123"])
def test_a_stamp_that_is_not_a_whole_number_is_a_bug(creds: Credentials, stamp: object) -> None:
    with pytest.raises(ValueError, match="stamp_ms"):
        auth_headers(creds, stamp)  # type: ignore[arg-type]


# -- strict base64 -------------------------------------------------------------------------

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SIXTEEN = base64.b64encode(b"sixteen bytes!!!").decode()  # ends in "=="


def with_stray_bits(canonical: str) -> str:
    """The same bytes to a lenient decoder, but the last character carries unused bits."""
    body = canonical.rstrip("=")
    last = ALPHABET[ALPHABET.index(body[-1]) + 1]
    return body[:-1] + last + "=" * (len(canonical) - len(body))


NON_CANONICAL = with_stray_bits(SIXTEEN)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (SECRET_B64[:10] + " " + SECRET_B64[10:], "whitespace"),
        (SECRET_B64[:10] + "\n" + SECRET_B64[10:], "whitespace"),
        (SECRET_B64.rstrip("="), "padding"),
        (SECRET_B64 + "==", "padding"),
        (SECRET_B64[:8] + "=" + SECRET_B64[9:], "padding"),
        (SECRET_B64[:10] + "*" + SECRET_B64[11:], "alphabet"),
        (SECRET_B64[:10] + "-" + SECRET_B64[11:], "alphabet"),  # urlsafe is not the venue's
        (SECRET_B64[:10] + "ü" + SECRET_B64[11:], "alphabet"),
        ("", "empty"),
        ("   ", "empty"),
        (NON_CANONICAL, "canonical"),
        (base64.b64encode(b"short").decode(), "at least 16"),
        ("QUFB" * 300, "longer"),
    ],
)
def test_a_secret_that_is_not_strict_base64_is_refused_without_quoting_it(
    secret: str, why: str
) -> None:
    with pytest.raises(ConfigError, match=why) as caught:
        Credentials.from_base64(KEY, secret)
    message = str(caught.value)
    assert "base64" in message
    stripped = secret.strip()
    for start in range(0, max(len(stripped) - 7, 0)):
        assert stripped[start : start + 8] not in message, "no piece of the secret is quoted"


def test_surrounding_whitespace_is_stripped_and_the_secret_decoded() -> None:
    creds = Credentials.from_base64(f" {KEY}\n", f"  {SECRET_B64}\n")
    assert creds.secret == SECRET and creds.public_key == KEY
    assert Credentials.from_base64(KEY, SIXTEEN).secret == b"sixteen bytes!!!"
    assert base64.b64decode(NON_CANONICAL) == b"sixteen bytes!!!", "lenient decoders agree"


@pytest.mark.parametrize("key", ["", "key with space", "key\r\nX-Evil: 1", "k" * 129])
def test_a_public_key_that_cannot_be_a_header_value_is_refused(key: str) -> None:
    with pytest.raises(ConfigError, match="public key"):
        Credentials.from_base64(key, SECRET_B64)


def test_repr_and_str_show_the_key_but_never_the_secret(creds: Credentials) -> None:
    for shown in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert KEY in shown and REDACTED in shown
        assert SECRET_B64 not in shown and SECRET_B64.rstrip("=") not in shown
        assert SECRET.decode() not in shown and repr(SECRET) not in shown


# -- redaction -----------------------------------------------------------------------------


def test_redact_removes_every_form_of_the_secret_and_the_signatures(creds: Credentials) -> None:
    headers = auth_headers(creds, STAMP)
    login = ws_login(creds, 3000, STAMP)
    text = (
        f"secret={SECRET_B64} raw={SECRET!r} text={SECRET.decode()} hex={SECRET.hex()} "
        f"url={base64.urlsafe_b64encode(SECRET).decode()} headers={headers} login={login} "
        f"X-Signature: {headers['X-Signature']} bare {sign(KEY, SECRET, 42)} end"
    )
    clean = redact(text, creds)
    assert SECRET_B64.rstrip("=") not in clean
    assert SECRET.decode() not in clean and SECRET.hex() not in clean
    assert headers["X-Signature"] not in clean
    payload = login[1]
    assert isinstance(payload, dict) and str(payload["signature"]) not in clean
    assert sign(KEY, SECRET, 42) not in clean
    assert f"'X-Stamp': '{STAMP}'" not in clean and f"'X-PCK': '{KEY}'" not in clean
    assert clean.startswith("secret=***") and clean.endswith(" end")


def test_redact_leaves_ordinary_text_alone(creds: Credentials) -> None:
    text = "order 9932534 BTCTRY buy 0.001 @ 66800.00: Unauthorized - Invalid Signature"
    assert redact(text, creds) == text


def test_the_filter_scrubs_message_arguments_and_traceback(
    creds: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RedactingFilter(creds))
    log = logging.getLogger("bot.exchange.rest.test")  # a child: the handler's filter sees it
    headers = auth_headers(creds, STAMP)
    with caplog.at_level(logging.INFO):
        log.info("sending %s with secret %s", headers, SECRET_B64)
        try:
            raise RuntimeError(f"bad secret {SECRET_B64}")
        except RuntimeError:
            log.exception("failed; signature %s", headers["X-Signature"])
    assert len(caplog.records) == 2
    for forbidden in (SECRET_B64.rstrip("="), headers["X-Signature"]):
        assert forbidden not in caplog.text
        assert all(forbidden not in r.getMessage() for r in caplog.records)
    assert "sending" in caplog.text and "RuntimeError: bad secret ***" in caplog.text


def test_a_broken_format_string_does_not_leak_its_arguments(
    creds: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RedactingFilter(creds))
    with caplog.at_level(logging.INFO):
        logging.getLogger("bot.test").info("two %s %s but one", SECRET_B64)
    [record] = caplog.records
    assert SECRET_B64.rstrip("=") not in record.getMessage()
    assert "two %s %s but one" in record.getMessage()
