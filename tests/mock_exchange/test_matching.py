"""The order book trades best price first, then oldest first, and keeps its level totals."""

from __future__ import annotations

from decimal import Decimal as D

from mock_exchange.matching import Book
from mock_exchange.model import Order

_ids = iter(range(1, 10**9))


def order(side: str, price: str, amount: str, account: str = "a") -> Order:
    return Order(
        next(_ids), account, "BTCTRY", side, "limit", D(price), D(amount), D(amount), "c", 0, 0
    )


def test_an_incoming_buy_trades_with_the_lowest_ask_first() -> None:
    book = Book("BTCTRY")
    high, low = order("sell", "101", "1"), order("sell", "100", "1")
    book.rest(high)
    book.rest(low)
    matches = book.match("buy", base=D("1.5"), limit=D("101"))
    assert [(m.maker.id, m.price, m.amount) for m in matches] == [
        (low.id, D("100"), D("1")),
        (high.id, D("101"), D("0.5")),
    ]
    assert book.asks.depth(5) == [(D("101"), D("0.5"))]


def test_at_one_price_the_oldest_order_fills_first() -> None:
    book = Book("BTCTRY")
    first, second = order("buy", "100", "1"), order("buy", "100", "1")
    book.rest(first)
    book.rest(second)
    matches = book.match("sell", base=D("1.2"), limit=D("100"))
    assert [(m.maker.id, m.amount) for m in matches] == [(first.id, D("1")), (second.id, D("0.2"))]
    assert second.left == D("0.8")
    assert list(book.bids.orders()) == [second]


def test_a_limit_never_trades_through_its_price() -> None:
    book = Book("BTCTRY")
    book.rest(order("sell", "105", "1"))
    assert book.match("buy", base=D("1"), limit=D("104")) == []
    assert book.best_ask() == D("105")


def test_a_quote_sized_buy_spends_no_more_than_its_quote() -> None:
    book = Book("BTCTRY")
    book.rest(order("sell", "100", "10"))
    matches = book.match("buy", quote=D("250"), limit=D("105"), amount_quantum=D("0.01"))
    assert [(m.price, m.amount) for m in matches] == [(D("100"), D("2.50"))]


def test_depth_aggregates_levels_best_first_and_forgets_empty_ones() -> None:
    book = Book("BTCTRY")
    a, b, c = order("buy", "99", "1"), order("buy", "99", "2"), order("buy", "98", "4")
    for o in (a, b, c):
        book.rest(o)
    assert book.bids.depth(10) == [(D("99"), D("3")), (D("98"), D("4"))]
    assert book.remove(a) and book.remove(b)
    assert book.bids.depth(10) == [(D("98"), D("4"))]
    assert book.best_bid() == D("98")
    assert not book.remove(a), "removing twice is refused"


def test_a_filled_level_leaves_the_book() -> None:
    book = Book("BTCTRY")
    book.rest(order("sell", "100", "1"))
    book.rest(order("sell", "101", "1"))
    book.match("buy", base=D("1"), limit=D("100"))
    assert book.best_ask() == D("101")
    assert len(book.asks) == 1
