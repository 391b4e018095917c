"""Client input to venue values: order bodies, query parameters, decimals. Pure.

The venue is an ASP.NET service: JSON keys and enum values bind case-insensitively, and a
decimal must use a dot (reference §3.2). Whatever does not parse becomes the venue's 400
with a message and code, never an exception that escapes as a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from mock_exchange import errors
from mock_exchange.errors import ErrorCode
from mock_exchange.rules import normalize_symbol
from mock_exchange.validation import OrderRequest

__all__ = [
    "MAX_CLIENT_ID_LENGTH",
    "parse_decimal",
    "parse_int",
    "parse_order_body",
    "parse_order_id",
]

# Client-id rules are UNCONFIRMED (§5.5); GUIDs are 36 characters, so 64 leaves room.
MAX_CLIENT_ID_LENGTH = 64
# Beyond these a number is absurd for any pair on the venue, and Decimal arithmetic on it
# would be slow or inexact.
_MAX_MAGNITUDE = Decimal("1e15")
_MAX_DECIMALS = 18
# Digits, dot, sign and exponent only: no comma, no spaces inside, no "NaN" or "Infinity".
_DECIMAL_TEXT = re.compile(r"[0-9.+\-eE]+")

_SIDES = {"buy": "buy", "sell": "sell", 0: "buy", 1: "sell"}
# Integer enums follow the C# client's enum order (§3.2); accepting them is UNCONFIRMED.
_METHODS = {
    "limit": "limit",
    "market": "market",
    "stoplimit": "stoplimit",
    "stopmarket": "stopmarket",
    "stop_limit": "stoplimit",
    "stop_market": "stopmarket",
    0: "limit",
    1: "market",
    2: "stoplimit",
    3: "stopmarket",
}


def parse_decimal(value: object, name: str, error: ErrorCode) -> Decimal:
    """A money value from JSON (a string, or a number parsed as Decimal) or a query string."""
    if isinstance(value, bool) or value is None:
        raise error(f"{name} must be a decimal number")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DECIMAL_TEXT.fullmatch(text) is None:
            raise error(f"{name} must be a decimal with a dot")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise error(f"{name} must be a decimal number") from None
    else:
        raise error(f"{name} must be a decimal number")
    if not number.is_finite() or abs(number) >= _MAX_MAGNITUDE:
        raise error(f"{name} is out of range")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if number != 0 and -exponent > _MAX_DECIMALS:
        raise error(f"{name} has too many decimals")
    return number


def parse_int(
    text: str | None,
    name: str,
    *,
    default: int | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """An integer query parameter; ``None`` when absent and no default is given."""
    if text is None or text == "":
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise errors.INVALID_REQUEST(f"{name} must be an integer") from None
    if minimum is not None and value < minimum:
        raise errors.INVALID_REQUEST(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise errors.INVALID_REQUEST(f"{name} must be at most {maximum}")
    return value


def parse_order_id(text: str | None) -> int | None:
    """An order id: ASCII digits only (``"²".isdigit()`` is true), at most a 64-bit int."""
    if text is None:
        return None
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value < 2**63 else None


def _enum(value: object, table: Mapping[object, str], name: str) -> str:
    key: object = value.strip().lower() if isinstance(value, str) else value
    # Only strings and plain ints can name an enum; a list or an object is not hashable.
    if not isinstance(key, str | int) or isinstance(key, bool) or key not in table:
        raise errors.FAILED_ORDER_PARAMETER(f"invalid {name}")
    return table[key]


def parse_order_body(body: object) -> OrderRequest:
    """``POST /api/v1/order``: keys and enum values case-insensitive (§3.2).

    Only ``newOrderClientId`` carries the client id: the alias ``newClientOrderId`` that
    some clients send is UNCONFIRMED on the venue, and an unknown key is ignored as
    ASP.NET model binding does, so those clients get a server-made GUID.
    """
    if not isinstance(body, dict):
        raise errors.FAILED_ORDER_PARAMETER("body must be a JSON object")
    fields = {str(k).lower(): v for k, v in body.items()}
    for required in ("ordertype", "ordermethod", "pairsymbol", "quantity"):
        if fields.get(required) is None:
            raise errors.FAILED_ORDER_PARAMETER(f"{required} is required")
    side = _enum(fields["ordertype"], _SIDES, "orderType")
    method = _enum(fields["ordermethod"], _METHODS, "orderMethod")
    pair = fields["pairsymbol"]
    if not isinstance(pair, str) or not pair.strip():
        raise errors.FAILED_ORDER_PARAMETER("pairSymbol must be a string")
    market = method in ("market", "stopmarket")
    family = errors.FAILED_MARKET_ORDER if market else errors.FAILED_LIMIT_ORDER
    quantity = parse_decimal(fields["quantity"], "quantity", family)
    price = None
    if method in ("limit", "stoplimit") and fields.get("price") is not None:
        price = parse_decimal(fields["price"], "price", family)
    stop_price = None
    if method in ("stoplimit", "stopmarket") and fields.get("stopprice") is not None:
        stop_price = parse_decimal(fields["stopprice"], "stopPrice", family)
    client_id = fields.get("neworderclientid")
    if client_id is not None:
        if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
            raise errors.FAILED_ORDER_PARAMETER(
                f"newOrderClientId must be a string of at most {MAX_CLIENT_ID_LENGTH} characters"
            )
        client_id = client_id or None
    return OrderRequest(
        pair=normalize_symbol(pair),
        side=side,
        method=method,
        quantity=quantity,
        price=price,
        stop_price=stop_price,
        client_id=client_id,
    )
