"""API credentials, request signing and log redaction (reference §2 and §8.4). Pure.

REST: ``X-Signature = base64(HMAC_SHA256(base64decode(secret), public_key + str(stamp_ms)))``;
only the key and the stamp are signed, never the method, path or body. The websocket login
(type 114) signs ``public_key + str(nonce)``, not the timestamp it also carries.

The secret is checked once, at start-up, as strict base64: a secret that a lenient decoder
would quietly truncate or mangle gives signatures the venue refuses much later, as a string
of 401s far from the cause. Nothing here ever puts the secret, a signature or an auth header
value into an exception message, a ``repr`` or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import string
from contextlib import suppress
from dataclasses import dataclass, field

from bot.errors import ConfigError

__all__ = [
    "MAX_SECRET_CHARS",
    "MIN_SECRET_BYTES",
    "REDACTED",
    "Credentials",
    "RedactingFilter",
    "auth_headers",
    "redact",
    "ws_login",
]

MIN_SECRET_BYTES = 16  # anything shorter is a truncated paste, not a venue-issued key
MAX_SECRET_CHARS = 1024
MAX_PUBLIC_KEY_CHARS = 128
REDACTED = "***"

_B64_ALPHABET = frozenset(string.ascii_letters + string.digits + "+/=")
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "-_.")
WS_LOGIN = 114


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """One API key. Build it with ``from_base64``; ``secret`` holds the decoded HMAC key."""

    public_key: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_public_key(self.public_key)
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_SECRET_BYTES:
            raise ConfigError(f"API secret must be at least {MIN_SECRET_BYTES} bytes")

    @classmethod
    def from_base64(cls, public_key: str, secret_b64: str) -> Credentials:
        """Strict: surrounding whitespace is stripped, anything else non-canonical is refused."""
        if not isinstance(secret_b64, str):
            raise ConfigError("API secret must be text (base64)")
        text = secret_b64.strip()
        problem = _base64_problem(text)
        if problem is None:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                problem = "it is not valid base64"
            else:
                if base64.b64encode(raw).decode("ascii") != text:
                    problem = "it is not canonical base64 (the last character carries stray bits)"
                elif len(raw) < MIN_SECRET_BYTES:
                    problem = (
                        f"it decodes to {len(raw)} bytes; at least {MIN_SECRET_BYTES} expected"
                    )
        if problem is not None:
            raise ConfigError(f"API secret is not strict base64: {problem}")
        return cls(public_key.strip() if isinstance(public_key, str) else public_key, raw)

    def __repr__(self) -> str:
        return f"Credentials(public_key={self.public_key!r}, secret={REDACTED})"

    __str__ = __repr__


def _check_public_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ConfigError("API public key is empty")
    if len(key) > MAX_PUBLIC_KEY_CHARS:
        raise ConfigError(f"API public key is longer than {MAX_PUBLIC_KEY_CHARS} characters")
    if not set(key) <= _KEY_CHARS:
        # A stray newline here would also split the X-PCK header.
        raise ConfigError("API public key contains characters other than letters, digits, -_.")


def _base64_problem(text: str) -> str | None:
    """Why ``text`` is not strict base64, in words that never quote the text itself."""
    if not text:
        return "it is empty"
    if len(text) > MAX_SECRET_CHARS:
        return f"it is longer than {MAX_SECRET_CHARS} characters"
    for position, char in enumerate(text, start=1):
        if char.isspace():
            return f"it contains whitespace (character {position})"
        if char not in _B64_ALPHABET:
            return f"it contains a character outside the base64 alphabet (character {position})"
    body = text.rstrip("=")
    if "=" in body or len(text) - len(body) > 2 or len(text) % 4:
        return "its length or '=' padding is wrong"
    return None


def _signature(creds: Credentials, signed: int) -> str:
    digest = hmac.digest(creds.secret, f"{creds.public_key}{signed}".encode(), hashlib.sha256)
    return base64.b64encode(digest).decode("ascii")


def _whole_number(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative int")
    return value


def auth_headers(creds: Credentials, stamp_ms: int) -> dict[str, str]:
    """The three auth headers of a private REST call; the stamp sent is the stamp signed."""
    stamp = _whole_number(stamp_ms, "stamp_ms")
    return {
        "X-PCK": creds.public_key,
        "X-Stamp": str(stamp),
        "X-Signature": _signature(creds, stamp),
    }


def ws_login(creds: Credentials, nonce: int, timestamp_ms: int) -> list[int | dict[str, int | str]]:
    """The private websocket login frame. ``nonce`` is a small int (the docs use 3000);
    a millisecond stamp as nonce is refused by the venue (reference §8.4)."""
    signed = _whole_number(nonce, "nonce")
    payload: dict[str, int | str] = {
        "type": WS_LOGIN,
        "publicKey": creds.public_key,
        "timestamp": _whole_number(timestamp_ms, "timestamp_ms"),
        "nonce": signed,
        "signature": _signature(creds, signed),
    }
    return [WS_LOGIN, payload]


# An auth header or login field followed by its value, in the spellings logs produce:
# ``X-Signature: v``, ``'x-signature': 'v'``, ``"signature":"v"``, ``X-Stamp=v``.
_AUTH_VALUE = re.compile(
    r"""(?ix)
    (\b(?:x-pck|x-stamp|x-signature|signature)['"]?\s*[:=]\s*(?:b?['"])?)
    ([^\s'",;}\])]+)
    """
)
# What an HMAC-SHA256 signature looks like in base64: 43 characters and one '='.
_SIGNATURE_SHAPE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])")


def _secret_forms(creds: Credentials) -> list[str]:
    raw = creds.secret
    standard = base64.b64encode(raw).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(raw).decode("ascii")
    forms = {standard, urlsafe, standard.rstrip("="), urlsafe.rstrip("="), raw.hex()}
    forms.add(repr(raw)[2:-1])  # how ``bytes`` print, escapes and all
    with suppress(UnicodeDecodeError):
        forms.add(raw.decode("utf-8"))
    # Longest first, so that a form containing another is removed whole.
    return sorted((f for f in forms if len(f) >= 8), key=len, reverse=True)


def redact(text: str, creds: Credentials) -> str:
    """``text`` without the secret (raw, base64, hex), auth header values or signatures."""
    for form in _secret_forms(creds):
        text = text.replace(form, REDACTED)
    text = _AUTH_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    return _SIGNATURE_SHAPE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Scrubs a record's message, arguments and traceback text; never drops a record.

    Attach it to a *handler*: a logger's own filters do not see records that propagate
    up from its children, a handler's do.
    """

    def __init__(self, creds: Credentials, name: str = "") -> None:
        super().__init__(name)
        self._creds = creds

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not smuggle its arguments out
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message, self._creds)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._creds)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._creds)
        return True
