"""The bot's one error tree, split by what the caller does next (STYLE.md, rule 5).

    BotError
    ├── Retryable                  the venue may answer differently if asked again
    │   ├── TransportError         timeout, reset connection, broken answer, ...
    │   │   └── NotSent            the request never left (connect refused or timed out):
    │   │                          even a write is safe to send again
    │   ├── RateLimited            429; ``retry_after_s`` says when to come back
    │   └── ServerError            5xx (incl. a CDN's HTML maintenance page)
    ├── Uncertain                  a write whose outcome is unknown: it may have been applied
    │                              (timeout, disconnect, 5xx on POST/DELETE order). Never
    │                              retried blindly; the lifecycle resolves it by client id.
    ├── VenueRejected              the venue said no, with its message and code
    │   ├── AuthFailed             401 / 1037, whatever ``success`` says
    │   ├── OrderNotFound          1052 NO_ORDER_MATCHES_YOUR_REQUEST, 1152 Order not found
    │   ├── NotCancellable         ORDER_COULD_NOT_BE_CANCELED (closed, market, ...)
    │   ├── InsufficientBalance    BALANCE_NOT_ENOUGH, FAILED_ORDER_WITH_OPEN_ORDERS
    │   └── OrderRefused           every other business refusal of a submit (scales, bands, ...)
    └── Bug                        our side is wrong: nothing to retry, stop and look
        ├── ConfigError            bad configuration (e.g. a secret that is not strict base64)
        ├── ProtocolError          a venue payload we cannot read at all (not one bad row)
        └── ClockUntrusted         the venue's clock is beyond tolerance: writes halt

Classification keys on the venue's ``message``, not its ``code``: the codes changed by
mistake in 2022 and were restored in 2024 (reference §6.2). Foreign exceptions (httpx2,
websockets, json) are translated in one place, ``bot.exchange.rest`` / ``stream``.
Messages never carry a secret, a signature or a full auth header.
"""

from __future__ import annotations

__all__ = [
    "AuthFailed",
    "BotError",
    "Bug",
    "ClockUntrusted",
    "ConfigError",
    "InsufficientBalance",
    "NotCancellable",
    "NotSent",
    "OrderNotFound",
    "OrderRefused",
    "ProtocolError",
    "RateLimited",
    "Retryable",
    "ServerError",
    "TransportError",
    "Uncertain",
    "VenueRejected",
]


class BotError(Exception):
    """Anything the bot raises on purpose."""


class Retryable(BotError):
    pass


class TransportError(Retryable):
    pass


class NotSent(TransportError):
    """The connection failed before the request was written: nothing reached the venue."""


class RateLimited(Retryable):
    def __init__(self, retry_after_s: float, detail: str = "") -> None:
        super().__init__(f"rate limited; retry after {retry_after_s:g} s {detail}".rstrip())
        self.retry_after_s = retry_after_s


class ServerError(Retryable):
    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"venue answered {status} {detail}".rstrip())
        self.status = status


class Uncertain(BotError):
    """A submit or cancel that may or may not have been applied."""

    def __init__(self, what: str, client_id: str | None, cause: BaseException | str) -> None:
        super().__init__(f"{what} outcome unknown (client id {client_id}): {cause}")
        self.what = what
        self.client_id = client_id
        self.cause = cause


class VenueRejected(BotError):
    def __init__(self, message: str, code: int | None, status: int, detail: str = "") -> None:
        text = f"venue refused: {message} (code {code}, HTTP {status})"
        super().__init__(f"{text}: {detail}" if detail else text)
        self.message = message
        self.code = code
        self.status = status
        self.detail = detail


class AuthFailed(VenueRejected):
    pass


class OrderNotFound(VenueRejected):
    pass


class NotCancellable(VenueRejected):
    pass


class InsufficientBalance(VenueRejected):
    pass


class OrderRefused(VenueRejected):
    pass


class Bug(BotError):
    pass


class ConfigError(Bug):
    pass


class ProtocolError(Bug):
    pass


class ClockUntrusted(Bug):
    """The clock offset to the venue is beyond tolerance; writes stay halted until it is not."""
