"""Ground truth, outside the venue's surface: ``/__admin/...`` behind its own bearer token.

Everything the harness judges the bot by: every order (whatever any view of the venue
shows), every fill with both sides, every balance, and account management. Amounts are
strings; this is plain JSON, not the venue's envelope.
"""

from __future__ import annotations

import hmac
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_exchange.accounts import Account, AccountsError, decode_secret
from mock_exchange.errors import ErrorCode, VenueError
from mock_exchange.faults import FaultPlan, FaultPlanError
from mock_exchange.model import Fill, Order
from mock_exchange.parsing import parse_decimal, parse_int

if TYPE_CHECKING:
    from mock_exchange.app import MockExchange

__all__ = ["routes"]


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _admin(request: Request) -> MockExchange:
    mock: MockExchange = request.app.state.mock
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), mock.admin_token.encode()
    ):
        raise AdminError(401, "admin bearer token required")
    mock.advance()
    return mock


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "account": order.account,
        "pair": order.pair,
        "side": order.side,
        "method": order.method,
        "price": _text(order.price),
        "stopPrice": _text(order.stop_price),
        "quantity": _text(order.quantity),
        "left": _text(order.left),
        "filledBase": _text(order.filled_base),
        "filledQuote": _text(order.filled_quote),
        "status": order.status,
        "triggered": order.triggered,
        "clientOrderId": order.client_id,
        "created": order.created,
        "updated": order.updated,
        "cancelDue": order.cancel_due,
        "locked": _text(order.locked),
        "lockAsset": order.lock_asset,
        "tradeIds": order.fills,
    }


def fill_json(fill: Fill) -> dict[str, Any]:
    return {
        "tradeId": fill.trade_id,
        "matchId": fill.match_id,
        "orderId": fill.order_id,
        "account": fill.account,
        "pair": fill.pair,
        "side": fill.side,
        "price": _text(fill.price),
        "amount": _text(fill.amount),
        "fee": _text(fill.fee),
        "tax": _text(fill.tax),
        "timestamp": fill.timestamp,
        "maker": fill.maker,
        "clientOrderId": fill.client_id,
    }


async def list_orders(request: Request) -> Response:
    mock = _admin(request)
    account = request.query_params.get("account")
    pair = request.query_params.get("pair")
    status = request.query_params.get("status")
    orders = [
        order_json(o)
        for o in mock.venue.orders.values()
        if (account is None or o.account == account)
        and (pair is None or o.pair == pair.upper().replace("_", ""))
        and (status is None or o.status.lower() == status.lower())
    ]
    return JSONResponse({"orders": orders})


async def list_fills(request: Request) -> Response:
    mock = _admin(request)
    account = request.query_params.get("account")
    since = parse_int(request.query_params.get("sinceTradeId"), "sinceTradeId", default=0)
    assert since is not None
    fills = [
        fill_json(f)
        for f in mock.venue.fills
        if (account is None or f.account == account) and f.trade_id > since
    ]
    return JSONResponse({"fills": fills})


async def list_balances(request: Request) -> Response:
    mock = _admin(request)
    result: dict[str, dict[str, dict[str, str | None]]] = {}
    for account in mock.venue.ledger.accounts():
        result[account] = {
            asset: {"total": _text(b.total), "locked": _text(b.locked), "free": _text(b.free)}
            for asset, b in mock.venue.ledger.balances(account).items()
        }
    return JSONResponse({"balances": result})


async def list_accounts(request: Request) -> Response:
    mock = _admin(request)
    return JSONResponse(
        {"accounts": [{"key": a.key, "name": a.name} for a in mock.accounts.values()]}
    )


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        raise AdminError(400, "body must be a JSON object") from None
    if not isinstance(body, dict):
        raise AdminError(400, "body must be a JSON object")
    return body


def _balances_of(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise AdminError(400, "balances must be an object of asset to amount")
    balances: dict[str, Decimal] = {}
    for asset, amount in raw.items():
        if not isinstance(amount, str | int) or isinstance(amount, bool):
            raise AdminError(400, f"balance {asset} must be a decimal string")
        try:
            value = parse_decimal(amount, f"balance {asset}", _ADMIN_AMOUNT)
        except VenueError as exc:
            raise AdminError(400, exc.details or exc.message) from None
        if value < 0:
            raise AdminError(400, f"balance {asset} must be zero or more")
        balances[str(asset).upper()] = value
    return balances


_ADMIN_AMOUNT = ErrorCode(400, "INVALID_AMOUNT", 0)


async def create_account(request: Request) -> Response:
    mock = _admin(request)
    body = await _json_body(request)
    fresh = mock.new_credentials()
    key = body.get("key", fresh.key)
    secret = body.get("secret", fresh.secret)
    name = body.get("name", key)
    if not isinstance(key, str) or not key.strip() or not isinstance(name, str):
        raise AdminError(400, "key and name must be non-empty strings")
    if not isinstance(secret, str):
        raise AdminError(400, "secret must be a base64 string")
    try:
        decode_secret(secret)
    except AccountsError as exc:
        raise AdminError(400, str(exc)) from None
    if key in mock.accounts:
        raise AdminError(409, f"account {key} exists")
    balances = _balances_of(body.get("balances", {}))
    mock.add_account(Account(key=key.strip(), secret=secret, name=name, balances=balances))
    return JSONResponse({"key": key.strip(), "secret": secret, "name": name}, status_code=201)


async def fund_account(request: Request) -> Response:
    mock = _admin(request)
    key = request.path_params["key"]
    if key not in mock.accounts:
        raise AdminError(404, f"no account {key}")
    body = await _json_body(request)
    asset = body.get("asset")
    if not isinstance(asset, str) or not asset.strip():
        raise AdminError(400, "asset is required")
    amount = _balances_of({asset: body.get("amount")})[asset.upper()]
    mock.venue.fund(key, asset.upper(), amount, mock.now())
    bal = mock.venue.ledger.balance(key, asset.upper())
    return JSONResponse(
        {"asset": asset.upper(), "total": _text(bal.total), "free": _text(bal.free)}
    )


async def read_journal(request: Request) -> Response:
    """``?since=SEQ&kind=K&kind=...&limit=N``: entries after ``since``, oldest first."""
    mock = _admin(request)
    query = request.query_params
    try:
        since = parse_int(query.get("since"), "since", default=0, minimum=0)
        limit = parse_int(query.get("limit"), "limit", default=10_000, minimum=1, maximum=100_000)
    except VenueError as exc:
        raise AdminError(400, exc.details or exc.message) from None
    assert since is not None and limit is not None
    kinds = query.getlist("kind") or None
    journal = mock.journal
    entries = journal.entries(since=since, kinds=kinds, limit=limit)
    return JSONResponse(
        {
            "first_seq": journal.first_seq,
            "last_seq": journal.last_seq,
            "entries": [e.to_json() for e in entries],
        }
    )


async def read_faults(request: Request) -> Response:
    mock = _admin(request)
    faults = mock.faults
    return JSONResponse(
        {
            "plan": faults.plan.to_mapping(),
            "started_ms": faults.start_ms,
            "matched": dict(faults.state.counters),
            "fired": dict(faults.state.fires),
        }
    )


async def replace_faults(request: Request) -> Response:
    """The new plan as JSON, or as TOML with a ``toml`` content type; counters start afresh."""
    mock = _admin(request)
    raw = await request.body()
    toml = "toml" in request.headers.get("content-type", "").lower()
    try:
        plan = FaultPlan.from_text(raw.decode("utf-8"), "toml" if toml else "json")
    except (FaultPlanError, UnicodeDecodeError) as exc:
        raise AdminError(400, f"bad fault plan: {exc}") from None
    mock.load_faults(plan)
    return JSONResponse({"plan": plan.to_mapping(), "started_ms": mock.faults.start_ms})


async def clear_faults(request: Request) -> Response:
    mock = _admin(request)
    mock.load_faults(FaultPlan())
    return JSONResponse({"plan": FaultPlan().to_mapping()})


async def read_clock(request: Request) -> Response:
    mock = _admin(request)
    clock_ms = mock.clock.now_ms()
    return JSONResponse(
        {"clock_ms": clock_ms, "venue_ms": mock.now(), "skew_ms": mock.now() - clock_ms}
    )


routes = [
    Route("/__admin/journal", read_journal, methods=["GET"]),
    Route("/__admin/faults", read_faults, methods=["GET"]),
    Route("/__admin/faults", replace_faults, methods=["PUT"]),
    Route("/__admin/faults", clear_faults, methods=["DELETE"]),
    Route("/__admin/clock", read_clock, methods=["GET"]),
    Route("/__admin/orders", list_orders, methods=["GET"]),
    Route("/__admin/fills", list_fills, methods=["GET"]),
    Route("/__admin/balances", list_balances, methods=["GET"]),
    Route("/__admin/accounts", list_accounts, methods=["GET"]),
    Route("/__admin/accounts", create_account, methods=["POST"]),
    Route("/__admin/accounts/{key}/fund", fund_account, methods=["POST"]),
]
