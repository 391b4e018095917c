"""The ten invariants (DESIGN.md, "The chaos harness"), checked on one finished run. Pure.

``check(result)`` runs every invariant over a ``RunResult`` and returns the ``Violation``s,
each naming what broke it: an order (client id, venue id), a fill (trade id), a log line, an
expectation. One function per invariant, ``invariant_1`` .. ``invariant_10``; ``INVARIANTS``
gives their numbers and names for the report.

The rows are the shapes the engines copy from the two sides without translation: venue
orders and fills as the mock's admin API writes them (``clientOrderId``, ``tradeIds``,
``status`` Untouched / Partial / Canceled / Closed), the bot's orders as its store rows
(``LocalOrder`` fields, ``state`` an ``OrderState`` value), the bot's fills with
``trade_id``. Amounts may be strings or numbers; they are compared as ``Decimal``.

Judgement calls, where the one-line invariant leaves room:

- **Fills made before the run** (``timestamp`` before ``start_ms``: history the scenario set
  up, possibly older than the bot's lookback) are not required locally; if the bot does
  record one, it must be exactly once. Every fill made during the run is required.
- **A local ``cancelled`` order with partial fills** is correct when the venue shows it
  Canceled: only a venue order still live, or Closed, contradicts a local cancel. A local
  ``rejected`` (or ``failed``) order contradicts any venue order that is live or has a fill.
- **Untracked** (invariant 5) means an order open on the venue at the end with no local row,
  or whose local row is ``intent`` or ``filled`` (the bot does not think it rests); local
  rows ``rejected`` and ``cancelled`` are invariant 4's.
- **Modes** (invariant 7): ``mode_history`` is read as the bot's mode over time, each entry
  in force until the next; before the first, the bot is in observe (it starts there). An
  entry may repeat a mode to record new reasons. An expectation is met by an entry in its
  window ``[start + after_s, start + after_s + within_s]``, or by the entry in force when
  the window opens, with the mode wanted and, when ``reason`` is given, a reason containing
  it (case-insensitive); ``then_live_within_s`` asks for a ``live`` entry at most that long
  after the observe one (or after the window opened, if it was already in force).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from chaos.model import ModeExpectation, RunResult, Violation

__all__ = ["INVARIANTS", "TOLERANCE", "check"]

INVARIANTS: tuple[tuple[int, str], ...] = (
    (1, "one venue order per client order id and intent"),
    (2, "every venue fill recorded exactly once"),
    (3, "balances and positions equal the venue's"),
    (4, "nothing failed, rejected or cancelled locally is live or filled on the venue"),
    (5, "no venue order left untracked"),
    (6, "no order unknown past its budget"),
    (7, "observe-only entered and left as the scenario demands"),
    (8, "no rate-limit block earned"),
    (9, "no secret or signature in the logs"),
    (10, "no illegal state transition"),
)
_NAMES = dict(INVARIANTS)

TOLERANCE = Decimal("0.00000001")
VENUE_LIVE = frozenset({"Untouched", "Partial"})
VENUE_CLOSED = "Closed"
VENUE_CANCELED = "Canceled"
LOCAL_REFUSED = frozenset({"rejected", "failed"})  # "failed": no such state, but never allowed
LOCAL_CANCELLED = frozenset({"cancelled", "canceled"})
LOCAL_NOT_RESTING = frozenset({"intent", "filled"})
_EXCERPT = 160
# An HMAC-SHA256 in base64 (32 bytes: 43 characters and one "=") next to the word.
_SIGNATURE = re.compile(r"signature\W{0,8}([A-Za-z0-9+/]{43}=)", re.IGNORECASE)
# The lifecycle's log of a refused transition: "illegal {event} for {client id} in {state}".
_ILLEGAL = re.compile(r"illegal (\S+) for (\S+) in (\S+?):")


def _violation(number: int, subject: str, detail: str) -> Violation:
    return Violation(number, _NAMES[number], subject, detail)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _decimal(value: object) -> Decimal:
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal("NaN")


def _same(a: Decimal, b: Decimal) -> bool:
    return not (a.is_nan() or b.is_nan()) and abs(a - b) <= TOLERANCE


def _order_name(client_id: object, venue_id: object = None) -> str:
    client, venue = _text(client_id), _text(venue_id)
    if client and venue:
        return f"order {client} (venue {venue})"
    return f"order {client}" if client else f"order (venue {venue})"


def _venue_name(order: Mapping[str, Any]) -> str:
    return _order_name(order.get("clientOrderId"), order.get("id"))


def _trade_id(fill: Mapping[str, Any]) -> str:
    return _text(fill.get("trade_id", fill.get("tradeId")))


def _has_fill(order: Mapping[str, Any]) -> bool:
    return bool(order.get("tradeIds")) or _decimal(order.get("filledBase")) > 0


def _index(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {_text(row.get(key)): row for row in rows if _text(row.get(key))}


# -- 1: one venue order per client id and intent ------------------------------------------


def invariant_1(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    by_client: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for order in result.venue_orders:
        client = _text(order.get("clientOrderId"))
        if client:
            by_client[client].append(order)
    for client, orders in sorted(by_client.items()):
        if len(orders) > 1:
            ids = ", ".join(_text(o.get("id")) for o in orders)
            found.append(_violation(1, f"order {client}", f"{len(orders)} venue orders: {ids}"))
    intent_of = {
        _text(row.get("client_id")): _text(row.get("intent_id")) for row in result.bot_orders
    }
    by_intent: dict[str, dict[str, str]] = defaultdict(dict)  # intent -> client id -> venue id
    for client, orders in by_client.items():
        intent = intent_of.get(client, "")
        if intent:
            by_intent[intent][client] = _text(orders[0].get("id"))
    for intent, clients in sorted(by_intent.items()):
        if len(clients) > 1:
            placed = ", ".join(f"{c} (venue {v})" for c, v in sorted(clients.items()))
            found.append(
                _violation(1, f"intent {intent}", f"{len(clients)} venue orders: {placed}")
            )
    return found


# -- 2: every venue fill recorded exactly once ----------------------------------------------


def invariant_2(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    local: dict[str, int] = defaultdict(int)
    for row in result.bot_fills:
        local[_trade_id(row)] += 1
    venue = _index(result.venue_fills, "tradeId")
    for trade_id, fill in sorted(venue.items(), key=lambda item: _sort_key(item[0])):
        count = local.get(trade_id, 0)
        order = _venue_fill_order(fill)
        if count > 1:
            found.append(
                _violation(2, f"fill {trade_id}", f"recorded {count} times locally ({order})")
            )
        elif count == 0 and _in_run(fill, result.start_ms):
            found.append(_violation(2, f"fill {trade_id}", f"missing locally ({order})"))
    for trade_id in sorted(set(local) - set(venue), key=_sort_key):
        subject = f"fill {trade_id or '(no trade id)'}"
        found.append(_violation(2, subject, "recorded locally, not a venue fill"))
    return found


def _sort_key(text: str) -> tuple[int, int, str]:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _venue_fill_order(fill: Mapping[str, Any]) -> str:
    return _order_name(fill.get("clientOrderId"), fill.get("orderId"))


def _in_run(fill: Mapping[str, Any], start_ms: int) -> bool:
    stamp = fill.get("timestamp")
    return not isinstance(stamp, int | float) or stamp >= start_ms


# -- 3: balances and positions --------------------------------------------------------------


def invariant_3(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    for asset, believed in sorted(result.bot_balances.items()):
        venue = _decimal(result.venue_balances.get(asset, {}).get("total"))
        local = _decimal(believed)
        if not _same(local, venue):
            found.append(_violation(3, f"balance {asset}", f"local {local}, venue {venue} (total)"))
    recorded = {_trade_id(fill) for fill in result.bot_fills}
    venue_positions: dict[str, Decimal] = defaultdict(Decimal)
    for fill in result.venue_fills:
        if _in_run(fill, result.start_ms) or _trade_id(fill) in recorded:
            sign = 1 if _text(fill.get("side")).lower() == "buy" else -1
            venue_positions[_text(fill.get("pair"))] += sign * _decimal(fill.get("amount"))
    for pair in sorted(set(venue_positions) | set(result.bot_positions)):
        local = _decimal(result.bot_positions.get(pair))
        venue = venue_positions.get(pair, Decimal(0))
        if not _same(local, venue):
            found.append(
                _violation(3, f"position {pair}", f"local {local}, venue fills net {venue}")
            )
    return found


# -- 4: nothing refused or cancelled locally that lives or filled on the venue ---------------


def invariant_4(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    by_id = _index(result.venue_orders, "id")
    by_client = _index(result.venue_orders, "clientOrderId")
    for row in result.bot_orders:
        state = _text(row.get("state")).lower()
        if state not in LOCAL_REFUSED | LOCAL_CANCELLED:
            continue
        venue = by_id.get(_text(row.get("venue_id"))) or by_client.get(_text(row.get("client_id")))
        if venue is None:
            continue
        status = _text(venue.get("status"))
        live = status in VENUE_LIVE
        closed = status == VENUE_CLOSED
        contradicted = live or closed or (state in LOCAL_REFUSED and _has_fill(venue))
        if contradicted:
            what = "live" if live else "filled" if closed else "partly filled"
            found.append(
                _violation(
                    4,
                    _venue_name(venue),
                    f"{state} locally, {what} on the venue (status {status}, "
                    f"filled {_decimal(venue.get('filledBase'))})",
                )
            )
    return found


# -- 5: no venue order left untracked -------------------------------------------------------


def invariant_5(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    local_by_venue = _index(result.bot_orders, "venue_id")
    local_by_client = _index(result.bot_orders, "client_id")
    for order in result.venue_orders:
        if _text(order.get("status")) not in VENUE_LIVE:
            continue
        row = local_by_venue.get(_text(order.get("id"))) or local_by_client.get(
            _text(order.get("clientOrderId"))
        )
        if row is None:
            found.append(_violation(5, _venue_name(order), "open on the venue, no local order"))
        elif (state := _text(row.get("state")).lower()) in LOCAL_NOT_RESTING:
            found.append(_violation(5, _venue_name(order), f"open on the venue, {state} locally"))
    return found


# -- 6: no order unknown past its budget ----------------------------------------------------


def invariant_6(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    seen: set[str] = set()
    budget = result.visibility_budget_ms
    for client in result.unknown_past_budget:
        seen.add(client)
        found.append(_violation(6, f"order {client}", f"unknown past its {budget} ms budget"))
    end_ms = result.start_ms + result.duration_ms
    for row in result.bot_orders:
        client = _text(row.get("client_id"))
        since = row.get("unknown_since_ms")
        if _text(row.get("state")).lower() != "unknown" or client in seen:
            continue
        if isinstance(since, int) and end_ms - since > budget:
            found.append(
                _violation(
                    6,
                    _order_name(client, row.get("venue_id")),
                    f"unknown for {end_ms - since} ms at the end, budget {budget} ms",
                )
            )
    return found


# -- 7: modes as the scenario demands -------------------------------------------------------


def invariant_7(result: RunResult) -> list[Violation]:
    history = sorted(
        (
            (int(entry.get("at_ms", 0)), _text(entry.get("mode")).lower(), _reasons(entry))
            for entry in result.mode_history
        ),
        key=lambda item: item[0],
    )
    found: list[Violation] = []
    for number, expectation in enumerate(result.expectations, 1):
        problem = _unmet(expectation, history, result.start_ms)
        if problem:
            found.append(_violation(7, _expectation_name(number, expectation), problem))
    return found


_Entry = tuple[int, str, tuple[str, ...]]


def _reasons(entry: Mapping[str, Any]) -> tuple[str, ...]:
    reasons = entry.get("reasons") or ()
    return (reasons,) if isinstance(reasons, str) else tuple(str(r) for r in reasons)


def _expectation_name(number: int, e: ModeExpectation) -> str:
    reason = f" ({e.reason!r})" if e.reason else ""
    return f"expectation {number}: {e.mode}{reason} within {e.within_s:g} s after {e.after_s:g} s"


def _unmet(e: ModeExpectation, history: list[_Entry], start_ms: int) -> str:
    low = start_ms + round(e.after_s * 1000)
    high = low + round(e.within_s * 1000)
    before = [entry for entry in history if entry[0] <= low]
    in_force: _Entry = before[-1] if before else (start_ms, "observe", ("start-up",))
    candidates = [(low, in_force[1], in_force[2])]
    candidates += [entry for entry in history if low < entry[0] <= high]
    reason = e.reason.lower()
    match = next(
        (
            entry
            for entry in candidates
            if entry[1] == e.mode and (not reason or any(reason in r.lower() for r in entry[2]))
        ),
        None,
    )
    if match is None:
        seen = "; ".join(
            f"{(at - start_ms) / 1000:g} s {mode} {list(reasons)}" for at, mode, reasons in history
        )
        return f"not met; modes: {seen or 'none recorded'}"
    if e.then_live_within_s is None:
        return ""
    entered = match[0]
    deadline = entered + round(e.then_live_within_s * 1000)
    if any(mode == "live" and entered < at <= deadline for at, mode, _ in history):
        return ""
    return (
        f"entered at {(entered - start_ms) / 1000:g} s, not live again within "
        f"{e.then_live_within_s:g} s"
    )


# -- 8, 9, 10 ------------------------------------------------------------------------------


def invariant_8(result: RunResult) -> list[Violation]:
    if result.rate_limit_blocks <= 0:
        return []
    return [
        _violation(
            8,
            "venue rate limiter",
            f"{result.rate_limit_blocks} requests refused with 429 by the venue's own limits",
        )
    ]


def invariant_9(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    secrets = sorted({s for s in result.secrets if s}, key=len, reverse=True)
    for number, line in enumerate(result.log_lines, 1):
        leaked = [s for s in secrets if s in line]
        signatures = [m.group(1) for m in _SIGNATURE.finditer(line)]
        if not leaked and not signatures:
            continue
        shown = line
        for text in (*leaked, *signatures):
            shown = shown.replace(text, "<redacted>")
        what = []
        if leaked:
            what.append(f"{len(leaked)} secret(s)")
        if signatures:
            what.append(f"{len(signatures)} signature(s)")
        found.append(
            _violation(9, f"log line {number}: {shown[:_EXCERPT]}", " and ".join(what) + " shown")
        )
    return found


def invariant_10(result: RunResult) -> list[Violation]:
    found: list[Violation] = []
    for number, line in enumerate(result.log_lines, 1):
        if match := _ILLEGAL.search(line):
            event, client, state = match.groups()
            found.append(
                _violation(
                    10,
                    f"order {client}",
                    f"{event} refused in {state} (log line {number}: {line[:_EXCERPT]})",
                )
            )
    unlogged = result.illegal_transitions - len(found)
    if unlogged > 0:
        found.append(
            _violation(
                10,
                "bot lifecycle",
                f"{result.illegal_transitions} illegal transitions counted"
                + (f", {unlogged} not found in the logs" if found else ""),
            )
        )
    return found


CHECKS: tuple[Callable[[RunResult], list[Violation]], ...] = (
    invariant_1,
    invariant_2,
    invariant_3,
    invariant_4,
    invariant_5,
    invariant_6,
    invariant_7,
    invariant_8,
    invariant_9,
    invariant_10,
)


def check(result: RunResult) -> list[Violation]:
    """Every violation of the ten invariants in ``result``, by invariant number."""
    return [violation for invariant in CHECKS for violation in invariant(result)]
