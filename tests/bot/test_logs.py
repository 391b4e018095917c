"""Log lines: one JSON object each, and never a secret or a signature, whichever logger, field
or traceback it came through. Read from the handler's own stream: caplog sees records before
the handler's filter, not what the bot writes."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bot.exchange.signing import Credentials, auth_headers, ws_login
from bot.logs import configure_logging, log_event
from tests.conftest import ALICE

CREDS = Credentials.from_base64(ALICE.key, ALICE.secret)
SIGNATURE = auth_headers(CREDS, 1_700_000_000_000)["X-Signature"]


class Captured:
    def __init__(self, logger: logging.Logger, stream: io.StringIO) -> None:
        self.logger = logger
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    """The bot's handler on a private logger tree, writing to a string."""
    parent = logging.getLogger("test_logs_bot")
    parent.propagate = False
    stream = io.StringIO()
    handler = configure_logging("DEBUG", True, CREDS, stream, logger=parent)
    yield Captured(parent, stream)
    parent.removeHandler(handler)


def test_each_record_is_one_json_line_with_the_fixed_keys(captured: Captured) -> None:
    captured.logger.info("hello %s", "world")
    captured.logger.getChild("lifecycle").warning("careful")
    first, second = captured.lines()
    assert list(first)[:4] == ["ts", "level", "logger", "msg"]
    assert first["msg"] == "hello world" and first["level"] == "INFO"
    assert first["logger"] == "test_logs_bot"
    assert first["ts"].endswith("Z") and first["ts"][10] == "T" and len(first["ts"]) == 24
    assert second["logger"] == "test_logs_bot.lifecycle" and second["level"] == "WARNING"


def test_log_event_writes_its_fields_as_json_keys(captured: Captured) -> None:
    log_event(
        captured.logger,
        "order.sent",
        pair="BTCTRY",
        price=Decimal("1234567.89"),
        count=3,
        ok=True,
        ids=("a", "b"),
        name="clash with LogRecord.name",
        msg="clash with the fixed key",
    )
    (line,) = captured.lines()
    assert line["msg"] == "order.sent" and line["event"] == "order.sent"
    assert line["pair"] == "BTCTRY" and line["price"] == "1234567.89"
    assert line["count"] == 3 and line["ok"] is True and line["ids"] == ["a", "b"]
    assert line["logger"] == "test_logs_bot" and line["name_"] == "clash with LogRecord.name"
    assert line["msg_"] == "clash with the fixed key"


def test_extra_fields_never_overwrite_the_fixed_keys(captured: Captured) -> None:
    captured.logger.info("real", extra={"ts": "forged", "logger": "forged", "exc": "forged"})
    (line,) = captured.lines()
    assert line["logger"] == "test_logs_bot" and line["ts"] != "forged" and "exc" not in line
    assert line["ts_"] == line["logger_"] == line["exc_"] == "forged"


def test_the_level_filters_records(captured: Captured) -> None:
    configure_logging("WARNING", True, CREDS, captured.stream, logger=captured.logger)
    captured.logger.info("dropped")
    captured.logger.error("kept")
    assert [line["msg"] for line in captured.lines()] == ["kept"]


def test_configuring_again_replaces_the_handler_instead_of_doubling_lines(
    captured: Captured,
) -> None:
    configure_logging("INFO", True, CREDS, captured.stream, logger=captured.logger)
    captured.logger.info("once")
    assert len(captured.lines()) == 1
    ours = [h for h in captured.logger.handlers if type(h) is logging.StreamHandler]
    assert len(ours) == 1


SECRET_FORMS = [
    ALICE.secret,
    ALICE.secret.rstrip("="),
    base64.b64decode(ALICE.secret).hex(),
    base64.b64decode(ALICE.secret).decode(),
]


@pytest.mark.parametrize("secret", SECRET_FORMS, ids=["base64", "unpadded", "hex", "raw"])
def test_the_secret_is_scrubbed_from_the_message(captured: Captured, secret: str) -> None:
    captured.logger.info("config: secret=%s", secret)
    assert secret not in captured.text()
    assert "***" in captured.lines()[0]["msg"]


def test_signatures_and_auth_headers_are_scrubbed_everywhere(captured: Captured) -> None:
    headers = auth_headers(CREDS, 1_700_000_000_123)
    child = captured.logger.getChild("exchange.rest")  # propagated: the handler still filters
    child.debug("sending %r", headers)
    child.debug("bare signature %s", SIGNATURE)
    log_event(child, "request", headers=headers, login=ws_login(CREDS, 3000, 1_700_000_000_000))
    child.info("plain", extra={"note": f"X-Signature: {SIGNATURE}", "raw": ALICE.secret})
    text = captured.text()
    assert headers["X-Signature"] not in text and SIGNATURE not in text
    login = ws_login(CREDS, 3000, 1_700_000_000_000)[1]
    assert isinstance(login, dict) and str(login["signature"]) not in text
    assert ALICE.secret not in text
    assert headers["X-Stamp"] not in text  # an auth header's value, whatever it is
    for line in captured.lines():  # still valid JSON after scrubbing
        assert line["logger"] == "test_logs_bot.exchange.rest"


def test_a_traceback_carrying_the_secret_is_scrubbed(captured: Captured) -> None:
    try:
        raise RuntimeError(f"boom with {ALICE.secret} and {SIGNATURE}")
    except RuntimeError:
        captured.logger.exception("failed")
    (line,) = captured.lines()
    assert "RuntimeError: boom with ***" in line["exc"]
    assert ALICE.secret not in captured.text() and SIGNATURE not in captured.text()


def test_the_text_format_is_scrubbed_too() -> None:
    logger = logging.getLogger("test_logs_text")
    logger.propagate = False
    stream = io.StringIO()
    handler = configure_logging("INFO", False, CREDS, stream, logger=logger)
    try:
        log_event(logger, "login", signature=SIGNATURE, pair="BTCTRY")
        logger.info("secret %s", ALICE.secret)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert " INFO test_logs_text login " in text and 'pair="BTCTRY"' in text
    assert SIGNATURE not in text and ALICE.secret not in text


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD", True, CREDS, io.StringIO(), logger=logging.getLogger("x"))


def test_the_root_logger_is_the_default_target() -> None:
    root = logging.getLogger()
    before = list(root.handlers), root.level
    stream = io.StringIO()
    handler = configure_logging(logging.INFO, True, CREDS, stream)
    try:
        logging.getLogger("some.library").warning("key %s", ALICE.secret)
    finally:
        root.removeHandler(handler)
        root.setLevel(before[1])
    assert handler not in root.handlers and root.handlers == before[0]
    assert "key ***" in stream.getvalue() and ALICE.secret not in stream.getvalue()
