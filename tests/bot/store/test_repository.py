"""The store keeps the books exactly, on SQLite and on PostgreSQL alike: the intent is on
disk before its request leaves, a state moves only from the state its writer saw, each fill
is recorded once by trade id, money and venue ids come back to the last digit, and two bot
processes racing on one order or one fill cannot both win."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from bot.core.types import Balance, Fill, OrderMethod, Side
from bot.errors import Bug, ConfigError
from bot.store.repository import LIVE_STATES, ORDER_FIELDS, Store
from tests.bot.store.conftest import PgCluster
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.anyio

T0 = 1_763_700_000_000  # a Unix millisecond stamp, past 32 bits
BIG_TRADE_ID = 1181163798924649598  # the size of a real BTCTurk trade id


def order(
    client_id: str = "c-1", intent_id: str = "i-1", attempt: int = 1, **kw: Any
) -> dict[str, Any]:
    """A LocalOrder as the lifecycle hands it over: every field, enums included."""
    values: dict[str, Any] = {
        "intent_id": intent_id,
        "client_id": client_id,
        "attempt": attempt,
        "pair": "BTCTRY",
        "side": Side.BUY,
        "method": OrderMethod.LIMIT,
        "price": D("2500000"),
        "stop_price": None,
        "quantity": D("0.01"),
        "state": "intent",
        "venue_id": None,
        "filled": D("0"),
        "created_ms": T0,
        "updated_ms": T0,
        "submitted_ms": None,
        "unknown_since_ms": None,
        "cancel_requested_ms": None,
        "external": False,
        "reason": None,
    }
    values.update(kw)
    return values


def intent(intent_id: str = "i-1", **payload: Any) -> dict[str, Any]:
    return {
        "intent_id": intent_id,
        "strategy": "mm",
        "slot": "BTCTRY:bid:0",
        "created_ms": T0,
        "payload": payload,
    }


def fill(trade_id: int, order_id: int = 9001, timestamp: int = T0, **kw: Any) -> Fill:
    values: dict[str, Any] = {
        "trade_id": trade_id,
        "order_id": order_id,
        "client_id": None,
        "pair": "BTCTRY",
        "base": "BTC",
        "quote": "TRY",
        "side": Side.BUY,
        "price": D("2500000"),
        "amount": D("0.004"),
        "fee": D("10.5"),
        "tax": D("1.89"),
        "timestamp": timestamp,
    }
    values.update(kw)
    return Fill(**values)


async def placed(store: Store, client_id: str = "c-1", state: str = "open", **kw: Any) -> None:
    """An order committed ahead and moved on to ``state`` through the lifecycle's path."""
    await store.commit_intent(
        order(client_id, intent_id=f"i-{client_id}"), intent(f"i-{client_id}"), T0
    )
    if state != "intent":
        assert await store.transition(client_id, "intent", {"state": state, **kw}, state, T0 + 1)


def states(trail: Sequence[Mapping[str, Any]]) -> list[tuple[str | None, str, str]]:
    return [(a["from_state"], a["to_state"], a["event"]) for a in trail]


# ---- write-ahead --------------------------------------------------------------------------


async def test_a_committed_intent_is_there_after_a_crash_before_the_request(
    store_url: str,
) -> None:
    crashed = await Store.open(store_url)
    await crashed.commit_intent(order(), intent(price=D("2500000")), T0)
    # the process dies here, before the request leaves: it never closes its store
    restarted = await Store.open(store_url)
    try:
        live = await restarted.live_orders()
        assert [(o["client_id"], o["state"]) for o in live] == [("c-1", "intent")]
        assert live[0] == order()
        assert await restarted.intent("i-1") == {
            "intent_id": "i-1",
            "strategy": "mm",
            "slot": "BTCTRY:bid:0",
            "created_ms": T0,
            "payload": {"price": "2500000"},
        }
        assert states(await restarted.audit("c-1")) == [(None, "intent", "intent")]
    finally:
        await restarted.close()
        await crashed.close()


KILLED_AFTER_COMMIT = """
import asyncio, os, signal, sys
from bot.store.repository import Store
from tests.bot.store.test_repository import T0, intent, order

async def main() -> None:
    store = await Store.open(sys.argv[1])
    await store.commit_intent(order(), intent(), T0)
    print("committed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_process_killed_right_after_the_commit_leaves_the_intent_on_disk(
    store_url: str,
) -> None:
    killed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_AFTER_COMMIT,
        store_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(killed.communicate(), timeout=120)
    assert (killed.returncode, out) == (-signal.SIGKILL, b"committed\n"), err.decode()
    async with await Store.open(store_url) as restarted:
        assert await restarted.live_orders() == [order()]
        assert states(await restarted.audit()) == [(None, "intent", "intent")]


async def test_the_order_row_mirrors_the_lifecycles_fields_and_gives_back_its_enums(
    store: Store,
) -> None:
    await store.commit_intent(order(), intent(), T0)
    got = await store.order_by_client_id("c-1")
    assert got is not None
    assert tuple(got) == tuple(order()) == ORDER_FIELDS
    assert got["side"] is Side.BUY and got["method"] is OrderMethod.LIMIT
    assert await store.order_by_client_id("nobody") is None


async def test_committing_an_intent_needs_state_intent_and_a_fresh_client_id(
    store: Store,
) -> None:
    with pytest.raises(Bug, match="state 'open'"):
        await store.commit_intent(order(state="open"), intent(), T0)
    await store.commit_intent(order(), intent(), T0)
    with pytest.raises(Bug, match="constraint"):
        await store.commit_intent(order(), intent(), T0)
    with pytest.raises(Bug, match="constraint"):  # same intent and attempt, other client id
        await store.commit_intent(order("c-other"), intent(), T0)
    with pytest.raises(Bug, match="not JSON"):
        await store.commit_intent(order("c-4", intent_id="i-4"), intent("i-4", at=object()), T0)
    with pytest.raises(Bug, match="belongs to intent"):
        await store.commit_intent(order("c-3", intent_id="i-3"), intent("i-1"), T0)
    # nothing of the refused commits was half written
    assert [o["client_id"] for o in await store.orders()] == ["c-1"]
    assert len(await store.audit()) == 1


async def test_a_second_attempt_of_an_intent_reuses_the_intent(store: Store) -> None:
    await store.commit_intent(order("c-1a"), intent(), T0)
    await store.commit_intent(order("c-1b", attempt=2), intent(note="second"), T0 + 5)
    attempts = await store.orders_for_intent("i-1")
    assert [(o["client_id"], o["attempt"]) for o in attempts] == [("c-1a", 1), ("c-1b", 2)]
    intent_row = await store.intent("i-1")
    assert intent_row is not None and intent_row["payload"] == {}  # the first one stays


async def test_the_default_url_is_a_sqlite_file_under_var_whose_directory_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await Store.open() as store:
        assert store.dialect == "sqlite"
        await store.kv_set("mode", "observe")
    assert (tmp_path / "var" / "bot.db").is_file()


# ---- compare-and-set transitions ----------------------------------------------------------


async def test_a_transition_applies_only_from_the_expected_state(store: Store) -> None:
    await store.commit_intent(order(), intent(), T0)
    assert await store.transition(
        "c-1", "intent", {"state": "submitting", "submitted_ms": T0 + 1}, "submit", T0 + 1
    )
    moved = await store.order_by_client_id("c-1")
    assert moved is not None
    assert (moved["state"], moved["submitted_ms"], moved["updated_ms"]) == (
        "submitting",
        T0 + 1,
        T0 + 1,
    )

    # another writer still believes the order is in 'intent': refused, nothing written
    assert not await store.transition("c-1", "intent", {"state": "rejected"}, "reject", T0 + 2)
    assert not await store.transition("nobody", "intent", {"state": "open"}, "ack", T0 + 2)
    after = await store.order_by_client_id("c-1")
    assert after == moved
    assert len(await store.audit("c-1")) == 2


async def test_every_transition_leaves_one_audit_row_in_order(store: Store) -> None:
    await store.commit_intent(order(), intent(), T0)
    steps: list[tuple[str, dict[str, Any], str, str | None]] = [
        ("intent", {"state": "submitting"}, "submit", None),
        ("submitting", {"state": "open", "venue_id": BIG_TRADE_ID}, "ack", "venue id known"),
        ("open", {"state": "partial", "filled": D("0.004")}, "fill", "trade 1"),
        ("partial", {"filled": D("0.008")}, "fill", "trade 2"),  # the state stays
        ("partial", {"state": "filled", "filled": D("0.01")}, "fill", "trade 3"),
    ]
    for at, (expected, values, event, detail) in enumerate(steps, start=1):
        assert await store.transition("c-1", expected, values, event, T0 + at, detail)
    assert not await store.transition("c-1", "open", {"state": "cancelled"}, "cancel", T0 + 9)

    trail = await store.audit("c-1")
    assert states(trail) == [
        (None, "intent", "intent"),
        ("intent", "submitting", "submit"),
        ("submitting", "open", "ack"),
        ("open", "partial", "fill"),
        ("partial", "partial", "fill"),
        ("partial", "filled", "fill"),
    ]
    assert [a["at_ms"] for a in trail] == [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5]
    assert [a["detail"] for a in trail][2:] == ["venue id known", "trade 1", "trade 2", "trade 3"]
    done = await store.order_by_venue_id(BIG_TRADE_ID)
    assert done is not None and (done["state"], done["filled"]) == ("filled", D("0.01"))


async def test_a_transition_cannot_rename_an_order_or_invent_a_field(store: Store) -> None:
    await placed(store)
    with pytest.raises(Bug, match="client id"):
        await store.transition("c-1", "open", {"client_id": "c-2"}, "x", T0)
    with pytest.raises(Bug, match="not order fields"):
        await store.transition("c-1", "open", {"colour": "red"}, "x", T0)


async def test_two_orders_cannot_share_a_venue_id(store: Store) -> None:
    await placed(store, "c-1", venue_id=77)
    await placed(store, "c-2")
    with pytest.raises(Bug, match="constraint"):
        await store.transition("c-2", "open", {"venue_id": 77}, "ack", T0 + 2)
    second = await store.order_by_client_id("c-2")
    assert second is not None and second["venue_id"] is None


async def test_live_orders_leave_out_the_terminal_states(store: Store) -> None:
    for client_id, state in [
        ("a", "intent"),
        ("b", "submitting"),
        ("c", "open"),
        ("d", "partial"),
        ("e", "cancel_pending"),
        ("f", "unknown"),
        ("g", "filled"),
        ("h", "cancelled"),
        ("i", "rejected"),
    ]:
        await placed(store, client_id, state)
    live = {o["client_id"]: o["state"] for o in await store.live_orders()}
    assert set(live.values()) == LIVE_STATES
    assert sorted(live) == list("abcdef")
    done = await store.orders(["filled", "rejected"])
    assert sorted(o["client_id"] for o in done) == ["g", "i"]
    assert len(await store.orders()) == 9


async def test_an_import_inserts_then_overwrites_and_audits_state_changes(store: Store) -> None:
    external = order(
        "ext-5", intent_id="ext-5", state="open", venue_id=5, external=True, created_ms=T0 - 9
    )
    assert await store.upsert_order(external, T0)
    # reconciliation's later views of it: created_ms stays when not given again
    later = {k: v for k, v in external.items() if k not in ("created_ms", "updated_ms")}
    filled = {**later, "state": "filled", "filled": D("0.01")}
    assert not await store.upsert_order(filled, T0 + 1, event="reconcile")
    assert not await store.upsert_order({**filled, "reason": "seen again"}, T0 + 2)
    got = await store.order_by_venue_id(5)
    assert got is not None
    assert (got["state"], got["filled"], got["created_ms"], got["updated_ms"], got["reason"]) == (
        "filled",
        D("0.01"),
        T0 - 9,
        T0 + 2,
        "seen again",
    )
    assert got["external"] is True
    assert states(await store.audit("ext-5")) == [
        (None, "open", "import"),
        ("open", "filled", "reconcile"),
    ]
    with pytest.raises(Bug, match="missing"):
        await store.upsert_order({"client_id": "ext-5", "state": "open"}, T0 + 3)


# ---- fills --------------------------------------------------------------------------------


async def test_a_fill_is_recorded_exactly_once_by_trade_id(store: Store) -> None:
    assert await store.record_fill(fill(BIG_TRADE_ID), "c-1", "ws")
    # the same trade again: from the REST backfill, or a duplicated 423
    assert not await store.record_fill(fill(BIG_TRADE_ID), "c-1", "rest")
    assert not await store.record_fill(fill(BIG_TRADE_ID, amount=D("9")), None, "ws")
    assert await store.fill_ids() == {BIG_TRADE_ID}
    assert await store.fill_counts() == {"ws": 1}
    [kept] = await store.fills()
    assert kept == fill(BIG_TRADE_ID, client_id="c-1")


async def test_two_partial_fills_of_one_order_within_one_second_are_both_kept(
    store: Store,
) -> None:
    first = fill(BIG_TRADE_ID, timestamp=T0 + 100, amount=D("0.004"))
    second = fill(BIG_TRADE_ID + 1, timestamp=T0 + 100, amount=D("0.004"))  # same everything
    assert await store.record_fill(first, "c-1", "ws")
    assert await store.record_fill(second, "c-1", "rest")
    kept = await store.fills(client_id="c-1")
    assert [f.trade_id for f in kept] == [BIG_TRADE_ID, BIG_TRADE_ID + 1]
    assert sum(f.amount for f in kept) == D("0.008")
    assert await store.fill_counts() == {"ws": 1, "rest": 1}


async def test_fills_read_back_by_time_order_and_client(store: Store) -> None:
    await store.record_fill(fill(3, order_id=1, timestamp=T0 + 3), "a", "ws")
    await store.record_fill(fill(1, order_id=2, timestamp=T0 + 1, client_id="b"), None, "ws")
    await store.record_fill(fill(2, order_id=1, timestamp=T0 + 2), "a", "rest")
    assert [f.trade_id for f in await store.fills()] == [1, 2, 3]
    assert [f.trade_id for f in await store.fills(since_ms=T0 + 2)] == [2, 3]
    assert [f.trade_id for f in await store.fills(client_id="b")] == [1]
    assert [f.trade_id for f in await store.fills(order_id=1)] == [2, 3]


async def test_a_fill_source_is_ws_or_rest(store: Store) -> None:
    with pytest.raises(Bug, match="source"):
        await store.record_fill(fill(1), None, "guess")


# ---- exact values -------------------------------------------------------------------------

EXACT = [
    D("0.00000001"),
    D("123456789.123456789012"),
    D("1.10"),  # the trailing zero (the exponent) comes back too
    D("0"),
    D("-0.5"),
    D("1E+3"),
    D("99999999999999999999999999.999999999999999999"),
]


async def test_money_and_venue_ids_round_trip_exactly(store_url: str) -> None:
    async with await Store.open(store_url) as writer:
        for n, amount in enumerate(EXACT):
            await writer.commit_intent(
                order(f"c-{n}", intent_id=f"i-{n}", price=amount, quantity=amount, filled=amount),
                intent(f"i-{n}"),
                T0,
            )
            assert await writer.transition(
                f"c-{n}", "intent", {"state": "open", "venue_id": BIG_TRADE_ID + n}, "ack", T0
            )
            await writer.record_fill(
                fill(
                    BIG_TRADE_ID + n,
                    order_id=BIG_TRADE_ID + n,
                    price=amount,
                    amount=amount,
                    fee=amount,
                    tax=amount,
                ),
                None,
                "ws",
            )
        await writer.save_balances(
            [Balance("BTC", EXACT[1], EXACT[0], EXACT[1] - EXACT[0], T0)], T0
        )
        await writer.save_positions({"BTCTRY": EXACT[1]}, T0)

    async with await Store.open(store_url) as reader:
        for n, amount in enumerate(EXACT):
            got = await reader.order_by_venue_id(BIG_TRADE_ID + n)
            assert got is not None
            for name in ("price", "quantity", "filled"):
                assert str(got[name]) == str(amount), (name, amount)
        fills = await reader.fills()
        assert [f.trade_id for f in fills] == [BIG_TRADE_ID + n for n in range(len(EXACT))]
        for f, amount in zip(fills, EXACT, strict=True):
            assert f.order_id == f.trade_id
            assert [str(v) for v in (f.price, f.amount, f.fee, f.tax)] == [str(amount)] * 4
        assert BIG_TRADE_ID + 1 in await reader.fill_ids()
        balance = (await reader.latest_balances())["BTC"]
        assert (balance.total, balance.locked, balance.free, balance.timestamp) == (
            D("123456789.123456789012"),
            D("0.00000001"),
            D("123456789.123456779012"),
            T0,
        )
        assert str((await reader.latest_positions())["BTCTRY"]) == "123456789.123456789012"


async def test_a_float_where_money_goes_is_refused(store: Store) -> None:
    with pytest.raises(Bug, match="money must be Decimal"):
        await store.commit_intent(order(price=0.1), intent(), T0)
    with pytest.raises(Bug, match="finite"):
        await store.commit_intent(order(price=D("NaN")), intent(), T0)
    assert await store.orders() == []


# ---- small values and snapshots -----------------------------------------------------------


async def test_kv_values_are_set_overwritten_and_defaulted(store: Store) -> None:
    assert await store.kv_get("mode") is None
    assert await store.kv_get("mode", "observe") == "observe"
    await store.kv_set("mode", "live")
    await store.kv_set("mode", "observe")
    await store.kv_set("last_reconcile_ms", str(T0))
    assert await store.kv_get("mode") == "observe"
    assert await store.kv_get("last_reconcile_ms") == str(T0)


async def test_the_latest_snapshot_is_the_newest_whole_one(store: Store) -> None:
    assert await store.latest_balances() == {}
    assert await store.latest_positions() == {}
    old = [Balance("TRY", D("100"), D("0"), D("100")), Balance("BTC", D("1"), D("0"), D("1"))]
    new = {"TRY": Balance("TRY", D("50"), D("10"), D("40"), T0 + 5)}
    await store.save_balances(old, T0)
    await store.save_balances(new, T0 + 10)
    await store.save_balances([], T0 + 20)  # nothing to record
    assert await store.latest_balances() == new
    await store.save_positions({"BTCTRY": D("0.5"), "ETHTRY": D("-1")}, T0)
    await store.save_positions({"BTCTRY": D("0.25")}, T0 + 10)
    assert await store.latest_positions() == {"BTCTRY": D("0.25")}


# ---- SQLite settings ----------------------------------------------------------------------


async def test_sqlite_runs_in_wal_mode_with_normal_sync_and_a_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "dir" / "bot.db"
    async with await Store.open(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=1234) as store:
        await placed(store)
        assert await store.diagnostics() == {
            "dialect": "sqlite",
            "journal_mode": "wal",
            "synchronous": "1",  # NORMAL
            "busy_timeout": "1234",
        }
        assert path.with_name("bot.db-wal").exists()
    with sqlite3.connect(path) as raw:  # WAL is a property of the file, seen from outside
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_the_store_reports_its_settings(store: Store) -> None:
    found = await store.diagnostics()
    assert found["dialect"] == store.dialect
    if store.dialect == "postgresql":
        assert found["transaction_isolation"] == "read committed"  # what the CAS relies on
        assert found["server_version"]
    else:
        assert found["journal_mode"] == "wal"


async def test_a_sqlite_url_without_a_driver_gets_aiosqlite(tmp_path: Path) -> None:
    async with await Store.open(f"sqlite:///{tmp_path / 'bot.db'}") as store:
        assert store.dialect == "sqlite"


async def test_an_in_memory_sqlite_store_is_one_database() -> None:
    async with await Store.open("sqlite+aiosqlite://") as store:
        await placed(store)
        assert len(await store.orders()) == 1


# ---- several processes --------------------------------------------------------------------


async def test_two_stores_racing_on_one_order_or_one_fill_have_exactly_one_winner(
    store_url: str,
) -> None:
    """Two bot processes on one database: for every order both try to move it out of
    'open', and both record every fill; each order moves once and each fill lands once."""
    first = await Store.open(store_url)
    second = await Store.open(store_url)
    try:
        client_ids = [f"race-{n}" for n in range(20)]
        for client_id in client_ids:
            await placed(first, client_id)
        moves = await asyncio.gather(
            *(
                store.transition(cid, "open", {"state": target}, target, T0 + 2, detail=name)
                for cid in client_ids
                for store, target, name in (
                    (first, "cancel_pending", "first"),
                    (second, "filled", "second"),
                    (first, "unknown", "first"),
                    (second, "rejected", "second"),
                )
            )
        )
        assert [sum(moves[i : i + 4]) for i in range(0, len(moves), 4)] == [1] * 20
        for cid in client_ids:
            trail = await second.audit(cid)
            assert len(trail) == 3  # intent, open, and the one winning move
            won = await first.order_by_client_id(cid)
            assert won is not None and won["state"] == trail[-1]["to_state"] != "open"

        fills = [fill(BIG_TRADE_ID + n, timestamp=T0 + n // 3) for n in range(30)]
        recorded = await asyncio.gather(
            *(
                store.record_fill(f, None, source)
                for f in fills
                for store, source in ((first, "ws"), (second, "rest"), (second, "ws"))
            )
        )
        assert [sum(recorded[i : i + 3]) for i in range(0, len(recorded), 3)] == [1] * 30
        assert await first.fill_ids() == {f.trade_id for f in fills}
        assert sum((await second.fill_counts()).values()) == 30
    finally:
        await first.close()
        await second.close()


async def test_two_stores_opening_a_new_database_at_once_both_succeed(store_url: str) -> None:
    stores = await asyncio.gather(*(Store.open(store_url) for _ in range(3)))
    try:
        await stores[0].kv_set("k", "v")
        assert [await s.kv_get("k") for s in stores] == ["v"] * 3
    finally:
        for s in stores:
            await s.close()


# ---- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql+aiomysql://bot:s3cret@db/bot", "needs sqlite or postgresql"),
        ("sqlite+pysqlite:///x.db", "not usable"),
        ("postgresql+nosuchdriver://bot:s3cret@db/bot", "not usable"),
    ],
)
async def test_an_unusable_url_is_a_config_error_without_the_password(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        await Store.open(url)
    assert "s3cret" not in str(caught.value)


async def test_an_unparseable_url_hides_its_password_too() -> None:
    with pytest.raises(ConfigError) as caught:
        await Store.open("postgresql+asyncpg://bot:s3cret@db:port/bot")
    assert "s3cret" not in str(caught.value)


async def test_an_unreachable_database_is_a_config_error_without_the_password() -> None:
    pytest.importorskip("asyncpg")
    url = f"postgresql+asyncpg://bot:s3cret@127.0.0.1:{free_port()}/bot"
    with pytest.raises(ConfigError, match="cannot open the store") as caught:
        await Store.open(url)
    text = str(caught.value)
    assert "s3cret" not in text and "***" in text


@pytest.mark.parametrize(
    ("url", "driver"),
    [("postgresql+asyncpg://bot:s3cret@db/bot", "asyncpg"), ("sqlite:///bot.db", "aiosqlite")],
)
async def test_a_missing_driver_is_a_config_error_that_names_it(
    url: str, driver: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, driver, None)  # what an import of an absent module sees
    with pytest.raises(ConfigError, match=f"needs the {driver} driver") as caught:
        await Store.open(url)
    assert "s3cret" not in str(caught.value)


async def test_a_missing_database_on_a_live_server_is_a_config_error(
    pg_cluster: PgCluster,
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        await Store.open(pg_cluster.url("no_such_db", user=pg_cluster.user))


async def test_a_sqlite_file_in_an_unwritable_place_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="cannot create the directory"):
        await Store.open(f"sqlite+aiosqlite:///{blocker / 'sub' / 'bot.db'}")
