"""The venue's error catalogue: HTTP status, message and code for every refusal.

Messages are what clients key on (the venue changed its integer codes by mistake in
2022 and restored them in 2024), so they are copied from the reference verbatim.
Where the reference marks a code UNCONFIRMED, the choice made here is noted inline.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ErrorCode", "VenueError"]


class VenueError(Exception):
    """A refusal the venue answers with its envelope: ``{"success": false, ...}``."""

    def __init__(self, status: int, message: str, code: int, details: str | None = None) -> None:
        super().__init__(f"{status} {message} ({code})" + (f": {details}" if details else ""))
        self.status = status
        self.message = message
        self.code = code
        self.details = details


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One entry of the catalogue; calling it makes a fresh exception to raise."""

    status: int
    message: str
    code: int

    def __call__(self, details: str | None = None) -> VenueError:
        return VenueError(self.status, self.message, self.code, details)


# Business validation (HTTP 400), reference §6.2.
BALANCE_NOT_ENOUGH = ErrorCode(400, "BALANCE_NOT_ENOUGH", 1055)
FAILED_MARKET_ORDER = ErrorCode(400, "FAILED_MARKET_ORDER", 1118)
FAILED_LIMIT_ORDER = ErrorCode(400, "FAILED_LIMIT_ORDER", 1120)
FAILED_ORDER_WITH_OPEN_ORDERS = ErrorCode(400, "FAILED_ORDER_WITH_OPEN_ORDERS", 1122)
FAILED_MIN_TOTAL_AMOUNT = ErrorCode(400, "FAILED_MIN_TOTAL_AMOUNT", 1123)
FAILED_STOP_PRICE_GREATER_THAN_BEST_ASK = ErrorCode(
    400, "FAILED_STOP_PRICE_GREATER_THAN_BEST_ASK", 1124
)
FAILED_STOP_PRICE_LESS_THAN_BEST_BID = ErrorCode(400, "FAILED_STOP_PRICE_LESS_THAN_BEST_BID", 1125)
FAILED_INVALID_PRICE_SCALE = ErrorCode(400, "FAILED_INVALID_PRICE_SCALE", 1126)
FAILED_INVALID_QUANTITY_SCALE = ErrorCode(400, "FAILED_INVALID_QUANTITY_SCALE", 1127)
FAILED_INVALID_STOP_PRICE_SCALE = ErrorCode(400, "FAILED_INVALID_STOP_PRICE_SCALE", 1128)
ORDER_METHOD_NOT_SUPPORTED = ErrorCode(400, "ORDER_METHOD_NOT_SUPPORTED", 1134)
ORDER_TYPE_NOT_SUPPORTED = ErrorCode(400, "ORDER_TYPE_NOT_SUPPORTED", 1193)
PRICE_MUST_BE_LESS_THAN_MAXPRICE = ErrorCode(400, "PRICE_MUST_BE_LESS_THAN_MAXPRICE", 1226)
PRICE_MUST_BE_LESS_THAN_MINPRICE = ErrorCode(400, "PRICE_MUST_BE_LESS_THAN_MINPRICE", 1227)
# Codes for FAILED_ORDER_PARAMETER and the generic parameter errors are UNCONFIRMED; 1100
# is this mock's choice, outside every documented code.
FAILED_ORDER_PARAMETER = ErrorCode(400, "FAILED_ORDER_PARAMETER", 1100)
INVALID_REQUEST = ErrorCode(400, "INVALID_REQUEST", 1101)
UNKNOWN_PAIR = ErrorCode(400, "PAIR_NOT_FOUND", 1102)
START_TIME_IN_FUTURE = ErrorCode(
    400, "startTime cannot be bigger than current unix timestamp.", 1038
)

# Cancel (reference §5.6). ORDER_COULD_NOT_BE_CANCELED was 1050 in 2020; kept.
NO_ORDER_MATCHES_YOUR_REQUEST = ErrorCode(400, "NO_ORDER_MATCHES_YOUR_REQUEST", 1052)
ORDER_COULD_NOT_BE_CANCELED = ErrorCode(400, "ORDER_COULD_NOT_BE_CANCELED", 1050)
# "Order not found" is documented with 1152; DOCS-EHO says missing orders are 400, not 404.
ORDER_NOT_FOUND = ErrorCode(400, "Order not found", 1152)

# Auth (reference §2.4): HTTP 401, code 1037.
AUTH_HEADERS_MISSING = ErrorCode(401, "Unauthorized - Headers are missing", 1037)
AUTH_INVALID_NONCE = ErrorCode(401, "Unauthorized - Invalid Nonce", 1037)
AUTH_INVALID_SIGNATURE = ErrorCode(401, "Unauthorized - Invalid Signature", 1037)
AUTH_INVALID_PUBLIC_KEY = ErrorCode(401, "Unauthorized - Invalid Public key", 1037)

# Transport-level answers.
NOT_FOUND = ErrorCode(404, "NOT_FOUND", 404)
METHOD_NOT_ALLOWED = ErrorCode(405, "METHOD_NOT_ALLOWED", 405)
TOO_MANY_REQUESTS = ErrorCode(429, "TOO_MANY_REQUESTS", 429)
INTERNAL_ERROR = ErrorCode(500, "INTERNAL_ERROR", 500)
