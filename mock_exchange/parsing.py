"""Client input to venue values: order bodies, query parameters, decimals. Pure.

The venue is an ASP.NET service: JSON keys and enum values bind case-insensitively, and a
decimal must use a dot (reference §3.2). Whatever does not parse becomes the venue's 400
with a message and code, never an exception that escapes as a 500.
"""

from __future__ import annotations

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
_DECIMAL_CHARS = "0123456789.+-eE"

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
    if isinstance(value, str):  # the common case first; a str is never a bool or None
        text = value.strip()
        # Only digits, dot, sign and exponent (what ``[0-9.+\-eE]+`` matches in full):
        # stripping those characters from both ends leaves nothing.
        if not text or text.strip(_DECIMAL_CHARS):
            raise error(f"{name} must be a decimal with a dot")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise error(f"{name} must be a decimal number") from None
        if "e" in text or "E" in text:
            decimals = _decimals(number)
        else:  # the exponent is what follows the dot: no need to take the number apart
            dot = text.find(".")
            decimals = 0 if dot < 0 else len(text) - dot - 1
    elif isinstance(value, bool) or value is None:
        raise error(f"{name} must be a decimal number")
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
        decimals = _decimals(number) if number.is_finite() else 0
    else:
        raise error(f"{name} must be a decimal number")
    try:
        out_of_range = not number.is_finite() or abs(number) >= _MAX_MAGNITUDE
    except ArithmeticError:  # decimal.Overflow: an exponent beyond what the context holds
        out_of_range = True
    if out_of_range:
        raise error(f"{name} is out of range")
    if decimals > _MAX_DECIMALS and number != 0:
        raise error(f"{name} has too many decimals")
    return number


def _decimals(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


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
    # Only strings and plain ints can name an enum; a list or an object is not hashable.
    found: str | None = None
    if isinstance(value, str):
        found = table.get(value.strip().lower())
    elif isinstance(value, int) and not isinstance(value, bool):
        found = table.get(value)
    if found is None:
        raise errors.FAILED_ORDER_PARAMETER(f"invalid {name}")
    return found


# The body's keys as the venue documents them, and lower-cased: keys bind case-insensitively.
_DOCUMENTED_NAMES: tuple[str, ...] = (
    "orderType",
    "orderMethod",
    "pairSymbol",
    "quantity",
    "price",
    "stopPrice",
    "newOrderClientId",
)
_LOWER_NAMES = tuple(name.lower() for name in _DOCUMENTED_NAMES)
_DOCUMENTED = frozenset(_DOCUMENTED_NAMES)


def parse_order_body(body: object) -> OrderRequest:
    """``POST /api/v1/order``: keys and enum values case-insensitive (§3.2).

    Only ``newOrderClientId`` carries the client id: the alias ``newClientOrderId`` that
    some clients send is UNCONFIRMED on the venue, and an unknown key is ignored as
    ASP.NET model binding does, so those clients get a server-made GUID.
    """
    if not isinstance(body, dict):
        raise errors.FAILED_ORDER_PARAMETER("body must be a JSON object")
    if _DOCUMENTED.issuperset(body):
        # Every key spelt as documented: no two of them lower-case alike, so each reads
        # what its lower-cased copy would hold, and the copy need not be made.
        get, names = body.get, _DOCUMENTED_NAMES
    else:
        get, names = {str(k).lower(): v for k, v in body.items()}.get, _LOWER_NAMES
    order_type = get(names[0])
    order_method = get(names[1])
    pair_symbol = get(names[2])
    quantity_text = get(names[3])
    if order_type is None:
        raise errors.FAILED_ORDER_PARAMETER("ordertype is required")
    if order_method is None:
        raise errors.FAILED_ORDER_PARAMETER("ordermethod is required")
    if pair_symbol is None:
        raise errors.FAILED_ORDER_PARAMETER("pairsymbol is required")
    if quantity_text is None:
        raise errors.FAILED_ORDER_PARAMETER("quantity is required")
    side = _enum(order_type, _SIDES, "orderType")
    method = _enum(order_method, _METHODS, "orderMethod")
    if not isinstance(pair_symbol, str) or not pair_symbol.strip():
        raise errors.FAILED_ORDER_PARAMETER("pairSymbol must be a string")
    limit = method == "limit" or method == "stoplimit"
    family = errors.FAILED_LIMIT_ORDER if limit else errors.FAILED_MARKET_ORDER
    quantity = parse_decimal(quantity_text, "quantity", family)
    price = None
    if limit and (price_text := get(names[4])) is not None:
        price = parse_decimal(price_text, "price", family)
    stop_price = None
    if method != "limit" and method != "market" and (stop_text := get(names[5])) is not None:
        stop_price = parse_decimal(stop_text, "stopPrice", family)
    client_id = get(names[6])
    if client_id is not None:
        if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID_LENGTH:
            raise errors.FAILED_ORDER_PARAMETER(
                f"newOrderClientId must be a string of at most {MAX_CLIENT_ID_LENGTH} characters"
            )
        client_id = client_id or None
    return OrderRequest(
        normalize_symbol(pair_symbol), side, method, quantity, price, stop_price, client_id
    )
