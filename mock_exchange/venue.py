"""The venue: books, ledger and order registry of every pair and account. Pure.

Nothing here reads a clock or draws randomness on its own: every call that changes state
takes ``now`` (Unix ms), and server-generated client ids come from the injected ``ids``
source. Work that the real venue does later (an asynchronous cancel, a stop trigger) is
done by ``advance(now)``, which the server calls on a timer and before every request, and
the simulation harness calls as its virtual clock moves.

Every change is announced to the subscribers as an event from ``events``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from mock_exchange import errors
from mock_exchange.events import (
    AccountFunded,
    OrderCancelRequested,
    OrderDeleted,
    OrderFilled,
    OrderInserted,
    PublicTrade,
    StopTriggered,
    VenueEvent,
)
from mock_exchange.ledger import Ledger
from mock_exchange.matching import Book, Match
from mock_exchange.model import BUY, SELL, Fill, Order, OrderStatus
from mock_exchange.rules import PairRules, normalize_symbol
from mock_exchange.validation import OrderRequest, validate

__all__ = ["FeeSchedule", "RandomBits", "Venue", "VenueConfig"]

_ZERO = Decimal(0)
_FEE_QUANTUM = Decimal("0.00000001")
SLIPPAGE_GUARD = Decimal("0.05")  # market orders: at most 5% worse than the touch (§5.5)
PUBLIC_TRADES_KEPT = 1000
FIRST_ORDER_ID = 25_000_000_000  # the venue's ids were about 2.5e10 in 2024
FIRST_TRADE_ID = 1_149_163_839_863_900_000  # user-trade ids are beyond 2**53 (§3.4)


class RandomBits(Protocol):
    def getrandbits(self, k: int, /) -> int: ...


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Commission rates, charged in the quote currency, with tax on the commission.

    The reference's examples show tax at exactly 18% of the fee; maker and taker rates are
    this mock's choice. Fee and tax are rounded down to 8 decimals.
    """

    maker: Decimal = Decimal("0.0010")
    taker: Decimal = Decimal("0.0015")
    tax: Decimal = Decimal("0.18")

    def reserve_factor(self) -> Decimal:
        """What a buy must hold per unit of notional: the notional plus the worst-case fee."""
        return 1 + self.taker * (1 + self.tax)

    def charge(self, notional: Decimal, maker: bool) -> tuple[Decimal, Decimal]:
        rate = self.maker if maker else self.taker
        fee = (notional * rate).quantize(_FEE_QUANTUM, ROUND_DOWN)
        tax = (fee * self.tax).quantize(_FEE_QUANTUM, ROUND_DOWN)
        return fee, tax


@dataclass(frozen=True, slots=True)
class VenueConfig:
    fees: FeeSchedule = FeeSchedule()
    cancel_delay_ms: int = 250
    enforce_tick_size: bool = False  # tick enforcement is UNCONFIRMED (§4.2)


class Venue:
    def __init__(
        self,
        pairs: Iterable[PairRules],
        ids: RandomBits,
        config: VenueConfig | None = None,
    ) -> None:
        self.config = config or VenueConfig()
        self._reserve_factor = self.config.fees.reserve_factor()
        self.rules: dict[str, PairRules] = {p.name: p for p in pairs}
        self.books: dict[str, Book] = {name: Book(name) for name in self.rules}
        self.ledger = Ledger()
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self._orders_by_account: dict[str, dict[int, Order]] = {}
        self._fills_by_account: dict[str, list[Fill]] = {}
        self.public_trades: dict[str, deque[PublicTrade]] = {
            name: deque(maxlen=PUBLIC_TRADES_KEPT) for name in self.rules
        }
        self.last_price: dict[str, Decimal | None] = {name: None for name in self.rules}
        self._stops: dict[str, list[Order]] = {name: [] for name in self.rules}
        # Pending cancels, carried out in (due ms, order id) order. With one cancel delay
        # they are asked for in that order already, so they wait in a FIFO; one that would
        # go before the FIFO's last (a cancel_lag, or the same ms with a smaller id) waits
        # in a heap. The smaller of the two heads is always the next, as from one heap.
        self._cancel_fifo: deque[tuple[int, int]] = deque()
        self._cancel_heap: list[tuple[int, int]] = []
        self._ids = ids
        self._next_order_id = FIRST_ORDER_ID
        self._next_trade_id = FIRST_TRADE_ID
        self._next_match_id = 1
        self._subscribers: list[tuple[Callable[[VenueEvent], None], tuple[type, ...] | None]] = []
        # Per event type, the subscribers that want it, in the order they subscribed.
        self._routes: dict[type, list[Callable[[VenueEvent], None]]] = {}
        self.now = 0

    # -- subscribers -------------------------------------------------------------------

    def subscribe(
        self, callback: Callable[[VenueEvent], None], kinds: tuple[type, ...] | None = None
    ) -> None:
        """Call ``callback`` with every event, or with events of ``kinds`` only."""
        self._subscribers.append((callback, kinds))
        self._routes.clear()

    def _emit(self, event: VenueEvent) -> None:
        callbacks = self._routes.get(type(event))
        if callbacks is None:
            callbacks = self._routes[type(event)] = [
                callback
                for callback, kinds in self._subscribers
                if kinds is None or isinstance(event, kinds)
            ]
        for callback in callbacks:
            callback(event)

    # -- accounts ------------------------------------------------------------------------

    def open_account(self, account: str) -> None:
        self.ledger.open_account(account)

    def fund(self, account: str, asset: str, amount: Decimal, now: int) -> None:
        self.ledger.credit(account, asset, amount)
        self._emit(AccountFunded(account, asset, amount, now))

    # -- lookups -------------------------------------------------------------------------

    def pair(self, symbol: str) -> PairRules | None:
        return self.rules.get(normalize_symbol(symbol))

    def order_of(self, account: str, order_id: int) -> Order | None:
        order = self.orders.get(order_id)
        if order is None or order.account != account:
            return None
        return order

    # -- submit --------------------------------------------------------------------------

    def submit(self, account: str, request: OrderRequest, now: int) -> Order:
        """Accept or refuse an order; an accepted order is matched at once."""
        self.advance(now)
        rules = self.rules.get(request.pair)
        if rules is None:
            raise request.family_error(f"unknown pair {request.pair}")
        validate(request, rules, enforce_tick_size=self.config.enforce_tick_size)
        pair = rules.name
        book = self.books[pair]
        method = request.method
        if method == "stoplimit" or method == "stopmarket":
            self._check_stop(request, book, pair)
        elif method == "market":
            if not len(book.opposite(request.side)):
                raise errors.FAILED_MARKET_ORDER("no liquidity")
            if request.side == SELL:
                best_bid = book.best_bid()
                assert best_bid is not None
                if request.quantity * best_bid < rules.min_exchange_value:
                    raise errors.FAILED_MIN_TOTAL_AMOUNT()
        lock_asset, lock_amount = self._reserve(request, rules, book)
        self._check_funds(account, lock_asset, lock_amount)

        order_id = self._next_order_id
        triggered = method == "limit" or method == "market"
        order = Order(
            order_id,
            account,
            pair,
            request.side,
            method,
            request.price if method == "limit" or method == "stoplimit" else None,
            request.quantity,
            request.quantity,
            request.client_id or self._new_client_id(),
            now,
            now,
            request.stop_price,
            OrderStatus.UNTOUCHED,
            triggered,
            lock_amount,
            lock_asset,
        )
        self._next_order_id = order_id + 1
        self.ledger.lock(account, lock_asset, lock_amount)
        self.orders[order_id] = order
        by_account = self._orders_by_account.get(account)
        if by_account is None:
            by_account = self._orders_by_account[account] = {}
        by_account[order_id] = order
        self._emit(OrderInserted(order, now))
        if triggered:
            self._execute(order, now)
        else:
            self._stops[pair].append(order)
        return order

    def _new_client_id(self) -> str:
        """A random version-4 GUID, as ``str(uuid.UUID(int=bits, version=4))`` gives it."""
        bits = self._ids.getrandbits(128)
        bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _check_stop(self, request: OrderRequest, book: Book, pair: str) -> None:
        if request.method not in ("stoplimit", "stopmarket"):
            return
        assert request.stop_price is not None
        if request.side == BUY:
            market = book.best_ask() or self.last_price[pair]
            if market is not None and request.stop_price <= market:
                raise errors.FAILED_STOP_PRICE_GREATER_THAN_BEST_ASK()
        else:
            market = book.best_bid() or self.last_price[pair]
            if market is not None and request.stop_price >= market:
                raise errors.FAILED_STOP_PRICE_LESS_THAN_BEST_BID()

    def _reserve(self, request: OrderRequest, rules: PairRules, book: Book) -> tuple[str, Decimal]:
        """The asset and amount an order holds while it is open."""
        if request.side == SELL:
            return rules.base, request.quantity
        factor = self._reserve_factor
        if request.sized_in_quote:
            return rules.quote, request.quantity * factor
        assert request.price is not None
        return rules.quote, request.quantity * request.price * factor

    def _check_funds(self, account: str, asset: str, amount: Decimal) -> None:
        balance = self.ledger.balance(account, asset)
        if amount > balance.total:
            raise errors.BALANCE_NOT_ENOUGH()
        if amount > balance.free:
            raise errors.FAILED_ORDER_WITH_OPEN_ORDERS()

    # -- matching and settlement -----------------------------------------------------------

    def _execute(self, order: Order, now: int) -> None:
        """Match a live (or just triggered) order, then rest it or close it."""
        rules = self.rules[order.pair]
        book = self.books[order.pair]
        market = order.method in ("market", "stopmarket")
        if market:
            touch = book.best_ask() if order.side == BUY else book.best_bid()
            if touch is None:
                self._finish(order, OrderStatus.CANCELED, "expired", now)
                return
            guard: Decimal | None = touch * (
                1 + SLIPPAGE_GUARD if order.side == BUY else 1 - SLIPPAGE_GUARD
            )
        else:
            guard = order.price
        if order.sized_in_quote:
            matches = book.match(
                order.side, quote=order.left, limit=guard, amount_quantum=rules.amount_quantum
            )
        else:
            matches = book.match(order.side, base=order.left, limit=guard)
        for match in matches:
            self._settle(order, match, now)
        if market:
            self._close_market(order, rules, book, now)
        elif order.left > 0:
            book.rest(order)
        else:
            self._finish(order, OrderStatus.CLOSED, "filled", now)
        if matches:
            self._trigger_stops(order.pair, now)

    def _close_market(self, order: Order, rules: PairRules, book: Book, now: int) -> None:
        if order.sized_in_quote:
            touch = book.best_ask() or self.last_price[order.pair] or _ZERO
            exhausted = order.left < touch * rules.amount_quantum or order.left <= 0
        else:
            exhausted = order.left <= 0
        status = OrderStatus.CLOSED if exhausted else OrderStatus.CANCELED
        self._finish(order, status, "filled" if exhausted else "expired", now)

    def _settle(self, taker: Order, match: Match, now: int) -> None:
        match_id = self._next_match_id
        self._next_match_id += 1
        maker = match.maker
        # The book already took the amount off the maker; the taker's side is ours to move.
        if taker.sized_in_quote:
            taker.left -= match.amount * match.price
        else:
            taker.left -= match.amount
        for order, is_maker in ((maker, True), (taker, False)):
            fill = self._book_fill(order, match, is_maker, match_id, now)
            self._emit(OrderFilled(fill, order))
        if maker.left <= 0:
            self._finish(maker, OrderStatus.CLOSED, "filled", now)
        side = taker.side
        trade = PublicTrade(
            str(match_id + 637_544_252_214_980_000),
            taker.pair,
            match.price,
            match.amount,
            side,
            now,
        )
        self.public_trades[taker.pair].append(trade)
        self.last_price[taker.pair] = match.price
        self._emit(trade)

    def _book_fill(
        self, order: Order, match: Match, is_maker: bool, match_id: int, now: int
    ) -> Fill:
        rules = self.rules[order.pair]
        fees = self.config.fees
        notional = match.amount * match.price
        fee, tax = fees.charge(notional, is_maker)
        if order.side == BUY:
            lock_price = match.price if order.sized_in_quote else order.price
            assert lock_price is not None
            release = min(match.amount * lock_price * self._reserve_factor, order.locked)
            self.ledger.spend_locked(order.account, rules.quote, release, notional + fee + tax)
            self.ledger.credit(order.account, rules.base, match.amount)
        else:
            release = min(match.amount, order.locked)
            self.ledger.spend_locked(order.account, rules.base, release, match.amount)
            self.ledger.credit(order.account, rules.quote, notional - fee - tax)
        order.locked -= release
        order.filled_base += match.amount
        order.filled_quote += notional
        order.updated = now
        if order.first_fill_price is None:
            order.first_fill_price = match.price
        if order.status == OrderStatus.UNTOUCHED:
            order.status = OrderStatus.PARTIAL
        fill = Fill(
            trade_id=self._next_trade_id,
            match_id=match_id,
            order_id=order.id,
            account=order.account,
            pair=order.pair,
            side=order.side,
            price=match.price,
            amount=match.amount,
            fee=fee,
            tax=tax,
            timestamp=now,
            maker=is_maker,
            client_id=order.client_id,
        )
        self._next_trade_id += 1
        order.fills.append(fill.trade_id)
        self.fills.append(fill)
        by_account = self._fills_by_account.get(order.account)
        if by_account is None:
            by_account = self._fills_by_account[order.account] = []
        by_account.append(fill)
        return fill

    def _finish(self, order: Order, status: str, reason: str, now: int) -> None:
        """Close an order for good and give back whatever it still holds."""
        if order.locked > 0:
            self.ledger.release(order.account, order.lock_asset, order.locked)
            order.locked = _ZERO
        order.status = status
        order.updated = now
        order.cancel_due = None
        self._emit(OrderDeleted(order, reason, now))

    def _trigger_stops(self, pair: str, now: int) -> None:
        """Turn stop orders whose trigger the last trade crossed into live orders."""
        while True:
            last = self.last_price[pair]
            stops = self._stops[pair]
            if last is None or not stops:
                return
            fired = [
                o
                for o in stops
                if o.is_open
                and o.stop_price is not None
                and (last >= o.stop_price if o.side == BUY else last <= o.stop_price)
            ]
            if not fired:
                return
            for order in fired:
                stops.remove(order)
                order.triggered = True
                order.updated = now
                self._emit(StopTriggered(order, now))
                self._execute(order, now)

    # -- cancel --------------------------------------------------------------------------

    def cancel(self, account: str, order_id: int, now: int, delay_ms: int | None = None) -> None:
        """Accept a cancel request; it takes effect ``cancel_delay_ms`` later (§5.6), or
        ``delay_ms`` later when given (the fault plan's ``cancel_lag``).

        A cancelled order cancels again with success (the venue's 2024 quirk); a closed or
        market order cannot be cancelled.
        """
        self.advance(now)
        order = self.orders.get(order_id)
        if order is None or order.account != account:  # order_of, inline: every cancel asks
            raise errors.NO_ORDER_MATCHES_YOUR_REQUEST()
        if order.status == OrderStatus.CANCELED:
            return
        if order.status == OrderStatus.CLOSED or order.method == "market":
            raise errors.ORDER_COULD_NOT_BE_CANCELED()
        if order.cancel_due is not None:
            return
        delay = self.config.cancel_delay_ms if delay_ms is None else max(0, delay_ms)
        order.cancel_due = now + delay
        entry = (order.cancel_due, order.id)
        fifo = self._cancel_fifo
        if not fifo or fifo[-1] < entry:
            fifo.append(entry)
        else:
            heapq.heappush(self._cancel_heap, entry)
        self._emit(OrderCancelRequested(order, now))

    def advance(self, now: int) -> None:
        """Carry out everything due by ``now``: pending cancels take effect."""
        if now > self.now:
            self.now = now
        fifo, heap = self._cancel_fifo, self._cancel_heap
        while True:
            if heap and (not fifo or heap[0] < fifo[0]):
                if heap[0][0] > now:
                    return
                due, order_id = heapq.heappop(heap)
            elif fifo:
                if fifo[0][0] > now:
                    return
                due, order_id = fifo.popleft()
            else:
                return
            order = self.orders.get(order_id)
            if order is None or not order.is_open or order.cancel_due != due:
                continue  # filled while the cancel was in flight
            if order.triggered:
                self.books[order.pair].remove(order)
            else:
                self._stops[order.pair].remove(order)
            self._finish(order, OrderStatus.CANCELED, "canceled", due)

    def next_due(self) -> int | None:
        heads = [queue[0][0] for queue in (self._cancel_fifo, self._cancel_heap) if queue]
        return min(heads) if heads else None

    def forget_closed(self, accounts: set[str], before: int) -> int:
        """Drop closed orders and fills of ``accounts`` last touched before ``before``.

        The market's agents trade all day; keeping their history forever would grow the
        mock by hundreds of megabytes an hour. Accounts not named keep everything.
        """
        dropped = 0
        for account in accounts:
            orders = self._orders_by_account.get(account, {})
            stale = [i for i, o in orders.items() if not o.is_open and o.updated < before]
            for order_id in stale:
                del orders[order_id]
                del self.orders[order_id]
            dropped += len(stale)
            fills = self._fills_by_account.get(account)
            if fills:
                self._fills_by_account[account] = [f for f in fills if f.timestamp >= before]
        self.fills = [f for f in self.fills if f.account not in accounts or f.timestamp >= before]
        return dropped

    # -- views ---------------------------------------------------------------------------

    def open_orders(self, account: str, pair: str | None = None) -> list[Order]:
        return [
            o
            for o in self._orders_by_account.get(account, {}).values()
            if o.is_open and (pair is None or o.pair == pair)
        ]

    def account_orders(self, account: str, pair: str | None = None) -> list[Order]:
        orders = self._orders_by_account.get(account, {}).values()
        return [o for o in orders if pair is None or o.pair == pair]

    def account_fills(self, account: str) -> list[Fill]:
        return list(self._fills_by_account.get(account, ()))
