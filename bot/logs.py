"""The bot's log output: one line per record, JSON by default, with secrets scrubbed.

``configure_logging`` installs one handler on the root logger (or the logger given) and
replaces the one it installed before. The handler carries ``RedactingFilter``, which scrubs a
record's message, arguments and traceback text; the formatter scrubs the extra fields too,
which the filter never sees (``log_event(log, "order.sent", headers=...)`` must not leak a
signature either). A record is therefore clean whichever logger it came from: a logger's own
filters miss records propagated from its children, a handler's do not.

A JSON line::

    {"ts": "2024-05-01T12:00:00.123Z", "level": "INFO", "logger": "bot.lifecycle",
     "msg": "order.sent", "event": "order.sent", "client_id": "...", "pair": "BTCTRY"}

``ts``, ``level``, ``logger`` and ``msg`` (then ``exc`` and ``stack`` when present) come
first and cannot be overwritten: an extra field of the same name is written as ``name_``.
Values that are not JSON types are written with ``str`` (``Decimal("0.1")`` as ``"0.1"``).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.exchange.signing import REDACTED, Credentials, RedactingFilter, redact

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging", "log_event"]

_FIXED = ("ts", "level", "logger", "msg", "exc", "stack")
# Every attribute a bare LogRecord has, plus the ones Formatter.format adds: what is left
# over on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}
_INSTALLED = "_btcbot_handler"
# The auth fields ``redact`` scrubs in text (``X-Signature: v``). In a mapping the name and
# the value are separate strings that ``redact`` never sees together, so they are matched here.
_AUTH_FIELDS = frozenset({"x-pck", "x-stamp", "x-signature", "signature"})


def _scrub(value: Any, credentials: Credentials | None) -> Any:
    """``value`` as JSON types, every string in it redacted."""
    if isinstance(value, str):
        return redact(value, credentials) if credentials is not None else value
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            _scrub(str(k), credentials): (
                REDACTED if str(k).lower() in _AUTH_FIELDS else _scrub(v, credentials)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item, credentials) for item in value]
    if isinstance(value, bytes):
        return _scrub(repr(value), credentials)
    return _scrub(str(value), credentials)


def _extras(record: logging.LogRecord, credentials: Credentials | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD or key.startswith("_"):
            continue
        name = f"{key}_" if key in _FIXED else key
        fields[name] = value
    scrubbed: dict[str, Any] = _scrub(fields, credentials)
    return scrubbed


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; the message, tracebacks and extra fields redacted."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        super().__init__()
        self._credentials = credentials

    def format(self, record: logging.LogRecord) -> str:
        creds = self._credentials
        payload: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": _scrub(record.getMessage(), creds),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = _scrub(record.exc_text, creds)
        if record.stack_info:
            payload["stack"] = _scrub(record.stack_info, creds)
        payload.update(_extras(record, creds))
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a terminal: ``ts LEVEL logger msg key=value ...``, redacted the same way."""

    def __init__(self, credentials: Credentials | None = None) -> None:
        super().__init__()
        self._credentials = credentials

    def format(self, record: logging.LogRecord) -> str:
        creds = self._credentials
        parts = [_timestamp(record.created), record.levelname, record.name]
        parts.append(_scrub(record.getMessage(), creds))
        parts += [f"{k}={json.dumps(v, default=str)}" for k, v in _extras(record, creds).items()]
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + _scrub(record.exc_text, creds)
        return line


def configure_logging(
    level: int | str,
    json: bool,
    credentials: Credentials | None,
    stream: TextIO | None = None,
    *,
    logger: logging.Logger | None = None,
) -> logging.Handler:
    """Install the bot's handler on ``logger`` (the root logger by default) and return it.

    ``stream`` defaults to ``sys.stderr`` as it is at the call. Without ``credentials`` only
    extra fields named like auth headers are scrubbed (there is no secret to look for, and
    nothing signs); the bot always passes them, tools that hold no key need not."""
    target = logger if logger is not None else logging.getLogger()
    resolved = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(resolved, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(credentials) if json else TextFormatter(credentials))
    if credentials is not None:
        handler.addFilter(RedactingFilter(credentials))
    setattr(handler, _INSTALLED, True)
    for old in [h for h in target.handlers if getattr(h, _INSTALLED, False)]:
        target.removeHandler(old)
        old.close()
    target.addHandler(handler)
    target.setLevel(resolved)
    return handler


def log_event(
    logger: logging.Logger, event: str, /, *, level: int = logging.INFO, **fields: Any
) -> None:
    """One structured record: the message is ``event``, ``fields`` become JSON keys.

    Field names a ``LogRecord`` owns (``name``, ``args``, ``msg``...) would make ``logging``
    raise, so they are written with a trailing ``_`` instead."""
    extra = {f"{k}_" if k in _STANDARD else k: v for k, v in fields.items()}
    extra["event"] = event
    logger.log(level, event, extra=extra, stacklevel=2)
