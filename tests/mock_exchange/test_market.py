"""The market simulator keeps every book two-sided, fills a patient order at the touch within
seconds, stays inside the venue's rules and funds, and replays exactly from its seed."""

from __future__ import annotations

import random
from collections.abc import Iterable
from decimal import Decimal as D

from mock_exchange.market import MarketConfig, MarketSimulator
from mock_exchange.rules import DEFAULT_PAIRS, PairRules
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import Venue

STEP_MS = 250
BOT = "bot"


def market(
    seed: int, pairs: Iterable[PairRules] = DEFAULT_PAIRS, config: MarketConfig | None = None
) -> tuple[Venue, MarketSimulator]:
    venue = Venue(pairs, random.Random(seed))
    return venue, MarketSimulator(venue, random.Random(seed), config or MarketConfig(), now=0)


def run(sim: MarketSimulator, first: int, last: int) -> None:
    """Step the simulator at every boundary from step ``first`` to step ``last``."""
    for n in range(first, last + 1):
        sim.step(n * STEP_MS)


def history(venue: Venue) -> list[tuple[str, D, D, str, str]]:
    return [(f.pair, f.price, f.amount, f.side, f.account) for f in venue.fills]


def assert_two_sided(venue: Venue) -> None:
    for pair in venue.rules:
        bid, ask = venue.books[pair].best_bid(), venue.books[pair].best_ask()
        assert bid is not None and ask is not None, pair
        assert bid < ask, pair


def test_every_book_is_two_sided_from_the_start_and_stays_so() -> None:
    venue, sim = market(seed=1)
    assert_two_sided(venue)
    for minute in range(1, 6):
        run(sim, (minute - 1) * 240 + 1, minute * 240)
        assert_two_sided(venue)
    assert venue.fills, "the agents trade"


def test_quotes_sit_around_the_reference() -> None:
    venue, sim = market(seed=2)
    run(sim, 1, 400)
    for pair, rules in venue.rules.items():
        reference = sim.reference(pair)
        assert reference == reference.quantize(rules.price_quantum)
        book = venue.books[pair]
        # Ten grid slots of 2 bp a side, plus the slack before a drifted quote is cancelled.
        for price, _ in book.bids.depth(100) + book.asks.depth(100):
            assert abs(price - reference) / reference < D("0.003"), (pair, price, reference)


def test_the_same_seed_makes_the_same_market() -> None:
    venue_a, sim_a = market(seed=42)
    venue_b, sim_b = market(seed=42)
    run(sim_a, 1, 600)
    run(sim_b, 1, 600)
    assert history(venue_a) == history(venue_b)
    assert {p: sim_a.reference(p) for p in venue_a.rules} == {
        p: sim_b.reference(p) for p in venue_b.rules
    }


def test_another_seed_makes_another_market() -> None:
    venue_a, sim_a = market(seed=42)
    venue_b, sim_b = market(seed=43)
    run(sim_a, 1, 200)
    run(sim_b, 1, 200)
    assert history(venue_a) != history(venue_b)
    assert sim_a.reference("BTCTRY") != sim_b.reference("BTCTRY")


def test_a_long_pause_replays_only_the_last_steps_of_catch_up() -> None:
    catch_up = MarketConfig().max_catch_up
    venue_steady, steady = market(seed=5)
    run(steady, 1, catch_up)
    venue_paused, paused = market(seed=5)
    paused.step(3_600_000)  # an hour asleep: 14,400 boundaries, of which only 40 are acted on
    assert history(venue_paused) == history(venue_steady)
    assert paused.reference("BTCTRY") == steady.reference("BTCTRY")


def test_a_step_inside_the_same_boundary_does_nothing() -> None:
    venue, sim = market(seed=5)
    sim.step(STEP_MS - 1)
    sim.step(0)
    assert venue.fills == []


def join_the_touch_and_wait(side: str, seed: int) -> int:
    """A bot order at the best price of its side; how many 250 ms steps until it trades."""
    venue, sim = market(seed=seed)
    run(sim, 1, 40)
    now = 40 * STEP_MS
    venue.fund(BOT, "TRY", D(1_000_000), now)
    venue.fund(BOT, "BTC", D(1), now)
    book = venue.books["BTCTRY"]
    price = book.best_bid() if side == "buy" else book.best_ask()
    order = venue.submit(BOT, OrderRequest("BTCTRY", side, "limit", D("0.002"), price), now)
    assert order.is_open and order.filled_base == 0
    for n in range(41, 41 + 120):  # thirty seconds
        sim.step(n * STEP_MS)
        if order.filled_base > 0:
            return n - 40
    raise AssertionError(f"the {side} at {price} did not fill in 30 s")


def test_a_bid_joining_the_touch_fills_within_thirty_seconds() -> None:
    assert join_the_touch_and_wait("buy", seed=7) <= 120


def test_an_ask_joining_the_touch_fills_within_thirty_seconds() -> None:
    assert join_the_touch_and_wait("sell", seed=7) <= 120


def test_a_long_volatile_run_stays_in_the_band_and_keeps_the_books_straight() -> None:
    # Fifty times the usual volatility drives the walk into both ends of its safe band.
    config = MarketConfig(volatility=D("0.02"), spacing=D("0.01"))
    venue, sim = market(seed=11, pairs=DEFAULT_PAIRS[:1], config=config)
    rules = venue.rules["BTCTRY"]
    seen: set[D] = set()
    for n in range(1, 20_001):
        sim.step(n * STEP_MS)
        seen.add(sim.reference("BTCTRY"))
    assert rules.min_limit_price <= min(seen) and max(seen) <= rules.max_limit_price
    assert max(seen) <= rules.max_price
    assert len(seen) > 1000, "the reference moved"
    assert_two_sided(venue)
    for account in venue.ledger.accounts():
        for asset, balance in venue.ledger.balances(account).items():
            assert balance.total >= 0 and balance.locked >= 0, (account, asset)
            assert balance.locked <= balance.total, (account, asset)
    for agent in sim.agents:
        assert len(venue.open_orders(agent.account)) <= 2 * config.levels
    # Agents are refunded before they run dry, and price and size them inside the rules.
    assert sum(sim.refusals.values()) == 0, sim.refusals


def test_agents_have_distinct_identities_reproducible_by_seed() -> None:
    _, sim = market(seed=3)
    per_pair = MarketConfig().agents_per_pair
    assert len(sim.agents) == per_pair * len(DEFAULT_PAIRS)
    assert sim.agents[0].account == "agent-btctry-1" and sim.agents[0].pair == "BTCTRY"
    names = [a.name for a in sim.agents]
    assert len(set(names)) == len(names)
    assert all("@" in a.email for a in sim.agents)
    assert len({a.account for a in sim.agents}) == len(sim.agents)

    _, again = market(seed=3)
    _, other = market(seed=4)
    assert again.agents == sim.agents
    assert [a.name for a in other.agents] != names
