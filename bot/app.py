"""The running bot: adapter, store, lifecycle, strategy, risk and the kill switch, wired.

``Bot`` is built from ``BotSettings`` and injected parts (the exchange, the store, the
clock), so the chaos harness runs the very same object in memory under a virtual clock.

Start-up: load the books and settle what a crash left; sync the clock; load symbol rules
(without them a pair does not trade: rules are never invented); run a first reconcile
*before* any new order. Then, every ``tick``:

- private websocket events go to the lifecycle (fills exactly once);
- a reconcile runs every ``reconcile_interval_s`` and at once when the stream says private
  events may have been missed; failures are counted;
- the mode controller decides ``live`` or ``observe`` from the health report (reconcile
  failures in a row, unknown orders past their budget, balance divergence, missing rules,
  an untrusted clock, a manual kill) and says why;
- the strategy proposes quotes per pair; every submit passes the risk limits first; in
  ``observe`` only cancels go out.

A replace is explicit: cancel, confirm (the venue's 452 or a read), then submit; a quote
slot never has two live orders. A cancel left pending (it may never have left: clock
untrusted, rate limited) is sent again after ``cancel_resend_s``. The daily loss limit
counts the open positions marked to their books' mid. ``btcbot resume`` from another
process (the kill flag falling in the store) is an operator's resume, as ``resume()`` is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from bot.core.modes import Mode, ModeConfig, ModeController, ModeInputs
from bot.core.orders import LocalOrder, OrderState
from bot.core.portfolio import Divergence, Portfolio, compare
from bot.core.risk import ProposedOrder, RiskLimits, RiskState
from bot.core.strategy import Holdings, LiveQuote, MarketView, Quote, SpreadMaker, SpreadMakerConfig
from bot.core.types import OrderBook, OrderMethod, PairRules, Side
from bot.errors import BotError
from bot.exchange.adapter import Exchange
from bot.lifecycle import Intent, Lifecycle, LifecycleConfig, ReconcileFailed, ReconcileReport
from bot.metrics import BotMetrics
from bot.settings import BotSettings
from bot.store.repository import Store

__all__ = ["Bot", "BotState"]

log = logging.getLogger("bot.app")

KILL_KEY = "manual_kill"


@dataclass
class BotState:
    reconcile_failures: int = 0
    last_reconcile_ms: int | None = None
    last_report: ReconcileReport | None = None
    rounds: dict[str, int] = field(default_factory=dict)  # slot -> placements so far
    notes: list[str] = field(default_factory=list)


class Bot:
    def __init__(
        self,
        settings: BotSettings,
        exchange: Exchange,
        store: Store,
        *,
        now_ms: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: BotMetrics | None = None,
        tick_s: float = 0.5,
        cancel_resend_s: float = 5.0,
        canaries: frozenset[str] = frozenset(),
    ) -> None:
        """``canaries`` switch on deliberately broken behaviours, for the harness's own
        tests only (chaos.model.CANARIES); a real bot never sets them."""
        self.settings = settings
        self.exchange = exchange
        self.store = store
        self.now_ms = now_ms
        self.sleep = sleep
        self.metrics = metrics
        self.tick_s = tick_s
        self.canaries = canaries
        self.cancel_resend_ms = int(cancel_resend_s * 1000)
        life = settings.lifecycle
        self.portfolio = Portfolio()
        self.lifecycle = Lifecycle(
            exchange.rest,
            store,
            now_ms=now_ms,
            config=LifecycleConfig(
                visibility_budget_ms=life.visibility_budget_ms,
                lookback_ms=life.lookback_ms,
                import_external=life.import_external,
                cancel_external=life.cancel_external,
                pairs=settings.strategy.pairs,
            ),
            metrics=metrics,
            portfolio=self.portfolio,
            canaries=canaries,
        )
        self.modes = ModeController(
            ModeConfig(
                max_reconcile_failures=life.max_reconcile_failures, auto_resume=life.auto_resume
            )
        )
        strat = settings.strategy
        self.strategy = SpreadMaker(
            SpreadMakerConfig(
                pairs=frozenset(strat.pairs),
                spread_bps=strat.spread_bps,
                levels=strat.levels,
                level_step_bps=strat.level_step_bps,
                quantity=strat.quantity,
                notional=strat.notional,
                ttl_ms=strat.ttl_ms,
                max_drift_bps=strat.max_drift_bps,
                skew_bps_per_base=strat.skew_bps_per_base,
                max_skew_bps=strat.max_skew_bps,
                buy_fee_reserve=strat.buy_fee_reserve,
                pull_when_blind=strat.pull_when_blind,
            )
        )
        risk = settings.risk
        self.risk = RiskLimits(
            max_position={p: risk.max_position.for_pair(p) for p in strat.pairs},
            max_order_notional={p: risk.max_order_notional.for_pair(p) for p in strat.pairs},
            max_open_orders_per_pair=risk.open_orders_per_pair,
            max_open_orders=risk.max_open_orders,
            max_daily_loss=risk.max_daily_loss,
        )
        self.rules: dict[str, PairRules] = {}
        if metrics is not None:
            exchange.rest.observer = lambda endpoint, seconds, status: metrics.request(
                endpoint, seconds, status=status
            )
        # Balance check: the venue's totals at start plus the fills booked since.
        self.session = Portfolio()
        self.lifecycle.fill_listeners.append(self.session.apply_fill)
        self.baseline: dict[str, Decimal] | None = None
        self.balance_tolerance = Decimal("0.00000001")
        self._diverging: set[str] = set()
        self.divergences: tuple[Divergence, ...] = ()
        self.state = BotState()
        self.manual_kill = False
        self._resume_wanted = False  # an operator's resume, waiting for the other causes
        self.wanted_mode = Mode(settings.mode)
        self._stop = asyncio.Event()

    # -- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.lifecycle.load()
        self.manual_kill = (await self.store.kv_get(KILL_KEY)) == "1"
        await self.exchange.start()
        await self.load_rules()
        await self.reconcile()  # before any new order
        self.update_mode()

    async def load_rules(self) -> None:
        try:
            info = await self.exchange.rest.exchange_info()
        except BotError as exc:
            log.error("exchangeinfo unavailable: %s", exc)
            return
        self.rules = {r.name: r for r in info.items}

    # -- one step -------------------------------------------------------------------------

    async def step(self) -> None:
        # ``btcbot kill`` and ``btcbot resume`` from another process write the flag; pick it
        # up every step. The flag falling is an operator's resume, not just a cause gone.
        killed = (await self.store.kv_get(KILL_KEY)) == "1"
        if self.manual_kill and not killed:
            self._resume_wanted = True
        self.manual_kill = killed
        if killed:
            self._resume_wanted = False
        await self.drain_events()
        now = self.now_ms()
        interval_ms = int(self.settings.lifecycle.reconcile_interval_s * 1000)
        due = self.state.last_reconcile_ms is None or now - self.state.last_reconcile_ms >= (
            interval_ms
        )
        if self.exchange.stream.take_dirty() or due:
            await self.reconcile()
        if not self.rules:
            await self.load_rules()
        self.update_mode()
        await self.trade()

    async def drain_events(self) -> None:
        queue = self.exchange.stream.private_events
        while not queue.empty():
            await self.lifecycle.on_private(queue.get_nowait())

    async def reconcile(self) -> ReconcileReport | None:
        try:
            report = await self.lifecycle.reconcile_once(allow_submit=self.allows_submit)
        except ReconcileFailed as exc:
            if "swallow_reconcile_errors" in self.canaries:
                return None  # canary: the failure goes uncounted
            self.state.reconcile_failures += 1
            log.error("reconcile failed (%s in a row): %s", self.state.reconcile_failures, exc)
            if self.metrics is not None:
                self.metrics.reconciles.labels(outcome="failed").inc()
            return None
        self.state.reconcile_failures = 0
        self.state.last_reconcile_ms = self.now_ms()
        self.state.last_report = report
        self.divergences = self.check_balances()
        for divergence in self.divergences:
            log.error(
                "balance divergence %s: expected %s, venue %s",
                divergence.asset,
                divergence.expected,
                divergence.actual,
            )
        return report

    def health(self) -> ModeInputs:
        budget = self.settings.lifecycle.visibility_budget_ms
        divergences = len(self.divergences)
        return ModeInputs(
            reconcile_failures_in_row=self.state.reconcile_failures,
            unknown_past_budget=self.lifecycle.unknown_past(budget),
            balance_divergences=divergences,
            rules_missing=tuple(p for p in self.settings.strategy.pairs if p not in self.rules),
            clock_trusted=self.exchange.rest.stamps.trusted,
            manual_kill=self.manual_kill,
            stream_dirty=self._stream_dirty(),
        )

    def _stream_dirty(self) -> bool:
        """A configured pair's book is not trustworthy: a changeset gap not yet resynced,
        or a reconnect not yet followed by a fresh snapshot."""
        if "trust_stale_book" in self.canaries:
            return False
        books = self.exchange.stream.books
        return any(p in books and books[p].dirty for p in self.settings.strategy.pairs)

    def update_mode(self) -> None:
        change = self.modes.update(self.health(), self.now_ms())
        if self._resume_wanted and not self.manual_kill:
            # Refused while another cause holds; it takes effect once they clear.
            resumed = self.modes.resume(self.now_ms())
            change = resumed or change
            self._resume_wanted = not self.modes.allows_submit
        if change is not None:
            log.warning("mode %s -> %s: %s", change.previous, change.mode, list(change.reasons))
            if self.metrics is not None:
                self.metrics.set_mode(change.mode.value, ", ".join(change.reasons))

    @property
    def allows_submit(self) -> bool:
        return self.wanted_mode is Mode.LIVE and self.modes.allows_submit

    @property
    def mode(self) -> Mode:
        return Mode.LIVE if self.allows_submit else Mode.OBSERVE

    # -- trading --------------------------------------------------------------------------

    async def trade(self) -> None:
        for pair in self.settings.strategy.pairs:
            await self._resend_cancels(pair)
            live = self._live_quotes(pair)
            view = MarketView(
                pair=pair,
                book=self._book(pair),
                book_fresh=self._book_fresh(pair),
                ticker=None,
                rules=self.rules.get(pair),
                now_ms=self.now_ms(),
            )
            decision = self.strategy.decide(view, self._holdings(pair), live)
            for slot in decision.cancel:
                await self._cancel_slot(slot)
            for quote in decision.replace:
                # Cancel, confirm, then submit: this round only cancels; the slot is placed
                # again once the venue confirms the old order gone.
                await self._cancel_slot(quote.slot)
            for quote in decision.place:
                await self._place(quote)

    async def _place(self, quote: Quote) -> None:
        if not self.allows_submit or self._slot_orders(quote.slot):
            return
        verdict = self.risk.check(
            ProposedOrder(quote.pair, quote.side, quote.price, quote.quantity), self._risk_state()
        )
        if not verdict.ok:
            log.info("risk refused %s: %s", quote.slot, list(verdict.reasons))
            return
        round_no = self.state.rounds.get(quote.slot, 0) + 1
        self.state.rounds[quote.slot] = round_no
        intent = Intent(
            intent_id=f"{self.strategy.name}:{quote.slot}:{self.now_ms()}:{round_no}",
            pair=quote.pair,
            side=quote.side,
            method=OrderMethod.LIMIT,
            quantity=quote.quantity,
            price=quote.price,
            strategy=self.strategy.name,
            slot=quote.slot,
        )
        await self.lifecycle.submit(intent)

    async def _cancel_slot(self, slot: str) -> None:
        for order in self._slot_orders(slot):
            if order.state in (OrderState.OPEN, OrderState.PARTIAL):
                await self.lifecycle.cancel(order.client_id)

    async def _resend_cancels(self, pair: str) -> None:
        """Send again the cancels that have been pending for ``cancel_resend_s``.

        A cancel that never left (the clock untrusted, not sent, rate limited) or whose
        answer was lost leaves its order ``cancel_pending`` while it rests on the venue; the
        slot counts as taken, so without a second cancel a stale quote would stay for good.
        Re-cancelling is harmless on the venue (a cancelled order cancels again)."""
        now = self.now_ms()
        for order in list(self.lifecycle.orders.values()):
            if (
                order.pair == pair
                and not order.external
                and order.state is OrderState.CANCEL_PENDING
                and order.venue_id is not None
                and now - (order.cancel_requested_ms or 0) >= self.cancel_resend_ms
            ):
                await self.lifecycle.cancel(order.client_id)

    def _slot_orders(self, slot: str) -> list[LocalOrder]:
        return [
            o
            for o in self.lifecycle.orders.values()
            if o.is_live and self._slot_of(o.intent_id) == slot
        ]

    def _slot_of(self, intent_id: str) -> str:
        """The quote slot of one of our intents, ``{strategy}:{slot}:{ms}:{round}``; a slot
        has colons of its own (``BTCTRY:bid:0``). Empty for any other intent (external)."""
        prefix = f"{self.strategy.name}:"
        if not intent_id.startswith(prefix):
            return ""
        parts = intent_id[len(prefix) :].rsplit(":", 2)
        return parts[0] if len(parts) == 3 else ""

    def _live_quotes(self, pair: str) -> dict[str, LiveQuote]:
        quotes: dict[str, LiveQuote] = {}
        for order in self.lifecycle.orders.values():
            if order.pair != pair or order.external or not order.is_live or order.price is None:
                continue
            slot = self._slot_of(order.intent_id)
            if slot and order.state in (OrderState.OPEN, OrderState.PARTIAL):
                quotes[slot] = LiveQuote(slot, order.price, order.left, order.created_ms)
            elif slot:  # in flight, unknown or cancelling: the slot is taken, do not quote it
                quotes[slot] = LiveQuote(slot, order.price, order.left, self.now_ms())
        return quotes

    def _book(self, pair: str) -> OrderBook | None:
        book = self.exchange.stream.books.get(pair)
        if book is not None and "trust_stale_book" in self.canaries:
            return book.snapshot()
        return book.snapshot() if book is not None and not book.dirty else None

    def _book_fresh(self, pair: str) -> bool:
        if "trust_stale_book" in self.canaries:
            return True
        book = self.exchange.stream.books.get(pair)
        if book is None or book.dirty or book.last_update_ms is None:
            return False
        return self.now_ms() - book.last_update_ms <= self.settings.strategy.ttl_ms

    def _holdings(self, pair: str) -> Holdings:
        rules = self.rules.get(pair)
        balances = self.lifecycle.last_balances
        zero = Decimal(0)
        base = balances[rules.base].free if rules and rules.base in balances else zero
        quote = balances[rules.quote].free if rules and rules.quote in balances else zero
        return Holdings(base_free=base, quote_free=quote, position=self.portfolio.position(pair))

    def check_balances(self) -> tuple[Divergence, ...]:
        """The venue's totals against what the starting balances plus the session's fills
        imply. A divergence counts only when it persists over two passes in a row (the
        balance and fill reads are not taken at one instant)."""
        venue = tuple(self.lifecycle.last_balances.values())
        if self.baseline is None:
            if venue:
                # The session may already hold fills (this pass backfilled them, or the
                # stream delivered them before the first read): the baseline is the venue's
                # totals less what those fills moved, or they would count twice.
                moved = self.session.expected_balances({})
                self.baseline = {b.asset: b.total - moved.get(b.asset, Decimal(0)) for b in venue}
            return ()
        expected = self.session.expected_balances(self.baseline)
        found = compare(venue, expected, self.balance_tolerance)
        lasting = tuple(d for d in found if d.asset in self._diverging)
        self._diverging = {d.asset for d in found}
        return lasting

    def _risk_state(self) -> RiskState:
        open_count: dict[str, int] = {}
        open_buy: dict[str, Decimal] = {}
        open_sell: dict[str, Decimal] = {}
        for order in self.lifecycle.live_orders():
            open_count[order.pair] = open_count.get(order.pair, 0) + 1
            side = open_buy if order.side is Side.BUY else open_sell
            side[order.pair] = side.get(order.pair, Decimal(0)) + order.left
        today = sum(self.portfolio.daily_realised_pnl(self.now_ms()).values(), Decimal(0))
        return RiskState(
            positions={p: self.portfolio.position(p) for p in self.settings.strategy.pairs},
            open_orders=open_count,
            open_buy=open_buy,
            open_sell=open_sell,
            realised_pnl_today=today,
            unrealised_pnl=self._unrealised_pnl(),
        )

    def _unrealised_pnl(self) -> Decimal:
        """The open positions marked to the mid of their books (the last one seen, even
        while it resyncs): the daily loss limit counts it with the realised PnL."""
        total = Decimal(0)
        for pair, position in self.portfolio.positions.items():
            local = self.exchange.stream.books.get(pair)
            if position.quantity == 0 or local is None:
                continue
            book = local.snapshot()
            if not book.bids or not book.asks:
                continue
            mid = (book.bids[0].price + book.asks[0].price) / 2
            total += position.quantity * mid - position.cost
        return total

    # -- control --------------------------------------------------------------------------

    async def kill(self, cancel_all: bool) -> int:
        """Drop to observe (persisted, survives a restart); optionally cancel every live
        order of ours. Returns the number of cancels sent."""
        self.manual_kill = True
        await self.store.kv_set(KILL_KEY, "1")
        self.update_mode()
        sent = 0
        if cancel_all:
            # A cancel still pending goes again: it may never have left.
            resting = (OrderState.OPEN, OrderState.PARTIAL, OrderState.CANCEL_PENDING)
            for order in list(self.lifecycle.live_orders()):
                if order.state in resting and order.venue_id is not None and not order.external:
                    await self.lifecycle.cancel(order.client_id)
                    sent += 1
        return sent

    async def resume(self) -> bool:
        """Lift a manual kill (persisted). True when live now; while another cause holds the
        bot in observe, the resume takes effect once it clears."""
        self.manual_kill = False
        await self.store.kv_set(KILL_KEY, "0")
        self._resume_wanted = True
        self.update_mode()
        return self.modes.allows_submit

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        await self.start()
        try:
            while not self._stop.is_set():
                try:
                    await self.step()
                except BotError as exc:
                    log.error("step failed: %s", exc)
                await self.sleep(self.tick_s)
        finally:
            await self.exchange.close()
            await self.store.close()
