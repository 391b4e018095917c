"""The journal records every change of the venue, in order, with the venue's ids (DESIGN.md:
ground truth)."""

from __future__ import annotations

import random
from decimal import Decimal as D
from typing import Any

import pytest

from mock_exchange.journal import Journal
from mock_exchange.rules import DEFAULT_PAIRS
from mock_exchange.validation import OrderRequest
from mock_exchange.venue import Venue, VenueConfig


def journalled_venue(journal: Journal) -> Venue:
    venue = Venue(DEFAULT_PAIRS, random.Random(3), VenueConfig(cancel_delay_ms=100))
    venue.subscribe(journal.on_event)
    for account in ("maker", "taker"):
        venue.fund(account, "TRY", D("10000000"), 0)
        venue.fund(account, "BTC", D("10"), 0)
    return venue


def limit(side: str, qty: str, price: str, cid: str | None = None) -> OrderRequest:
    return OrderRequest("BTCTRY", side, "limit", D(qty), D(price), client_id=cid)


def test_a_match_a_partial_fill_and_a_cancel_are_journalled_in_order() -> None:
    journal = Journal()
    venue = journalled_venue(journal)
    sell = venue.submit("maker", limit("sell", "1", "4000000", cid="m-1"), 10)
    buy = venue.submit("taker", limit("buy", "0.4", "4000000", cid="t-1"), 20)
    venue.cancel("maker", sell.id, 30)
    venue.advance(200)

    kinds = [(e.kind, e.data.get("order_id")) for e in journal.entries()]
    assert kinds == [
        ("account_funded", None),
        ("account_funded", None),
        ("account_funded", None),
        ("account_funded", None),
        ("order_accepted", sell.id),
        ("order_accepted", buy.id),
        ("order_filled", sell.id),
        ("order_filled", buy.id),
        ("order_closed", buy.id),
        ("cancel_requested", sell.id),
        ("order_closed", sell.id),
    ]
    seqs = [e.seq for e in journal.entries()]
    assert seqs == list(range(1, len(seqs) + 1))
    maker_fill = journal.entries(kinds=["order_filled"])[0].to_json()
    assert maker_fill["client_id"] == "m-1" and maker_fill["maker"] is True
    assert (maker_fill["amount"], maker_fill["left"], maker_fill["status"]) == (
        "0.4",
        "0.6",
        "Partial",
    )
    assert maker_fill["trade_id"] == venue.fills[0].trade_id
    closed = journal.entries(kinds=["order_closed"])[-1]
    assert (closed.at, closed.data["reason"], closed.data["client_id"]) == (130, "canceled", "m-1")


def test_entries_since_a_sequence_number_and_by_kind() -> None:
    journal = Journal()
    for i in range(10):
        journal.record("fault_fired", i, rule=f"r{i}")
    assert [e.seq for e in journal.entries(since=7)] == [8, 9, 10]
    assert [e.data["rule"] for e in journal.entries(since=2, limit=2)] == ["r2", "r3"]
    assert journal.entries(kinds=["order_accepted"]) == []


def test_capacity_drops_the_oldest_and_says_so() -> None:
    journal = Journal(capacity=3)
    for i in range(5):
        journal.record("k", i)
    assert (journal.first_seq, journal.last_seq, len(journal)) == (3, 5, 3)
    assert [e.seq for e in journal.entries()] == [3, 4, 5]
    assert [e.seq for e in journal.entries(since=4)] == [5]
    with pytest.raises(ValueError):
        Journal(capacity=0)


def test_the_sink_sees_every_entry_as_json_and_include_filters_accounts() -> None:
    seen: list[dict[str, Any]] = []
    journal = Journal(sink=seen.append, include=lambda account: account != "maker")
    venue = journalled_venue(journal)
    venue.submit("maker", limit("sell", "1", "4000000"), 10)
    venue.submit("taker", limit("buy", "0.1", "4000000"), 20)
    assert [e["seq"] for e in seen] == [e.seq for e in journal.entries()]
    assert {e.get("account") for e in seen} == {"taker"}
    assert [e["kind"] for e in seen][-3:] == ["order_accepted", "order_filled", "order_closed"]


def test_the_same_requests_give_the_same_journal() -> None:
    def run() -> list[dict[str, Any]]:
        journal = Journal()
        venue = journalled_venue(journal)
        rng = random.Random(11)
        for t in range(200):
            side = rng.choice(["buy", "sell"])
            price = str(4_000_000 + rng.randint(-20, 20) * 100)
            account = rng.choice(["maker", "taker"])
            venue.submit(account, limit(side, "0.01", price), t)
        return [e.to_json() for e in journal.entries()]

    first, second = run(), run()
    assert first == second and len(first) > 200
