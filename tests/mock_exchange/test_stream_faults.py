"""Every websocket fault kind shown from a plain client: one real uvicorn server, a plain
``websockets`` client on ``obdiff`` (or logged in), signed REST orders through httpx2 to
move the book, and the plan swapped per test with ``PUT /__admin/faults``. Each test shows
what the client sees, what the venue holds afterwards, and the journal's ``fault_fired``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from mock_exchange.faults import GARBAGE
from tests.conftest import ALICE, BOB, LiveServer, signed, start_server, stop_server

pytestmark = pytest.mark.anyio

Frame = list[Any]
INTACT = {"CS", "PS", "AO", "BO", "channel", "event", "type"}  # a 431/432 payload's fields
_bid_steps = itertools.count(1)  # every bid rests above the last: the top of book changes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path_factory.mktemp("ws-faults"),
        "--rate-limits",
        "off",
        "--no-market",
        "--ws-connects-per-minute",
        "1000",
    )
    yield live
    stop_server(live)


@pytest.fixture
async def api(server: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


# -- admin ------------------------------------------------------------------------------------


def admin(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.admin_token}"}


async def journal(api: httpx2.AsyncClient, server: LiveServer, **query: Any) -> dict[str, Any]:
    answer = await api.get("/__admin/journal", params=query, headers=admin(server))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def load_plan(api: httpx2.AsyncClient, server: LiveServer, rules: list[Any]) -> int:
    """Wait until no socket of an earlier test is open (its frames would count towards the
    rules), replace the plan, and return the journal's last sequence number."""
    async with asyncio.timeout(5):
        while True:
            entries = (await journal(api, server, kind=["ws_connected", "ws_closed"]))["entries"]
            opened = sum(1 for e in entries if e["kind"] == "ws_connected")
            if opened == len(entries) - opened:
                break
            await asyncio.sleep(0.05)
    answer = await api.put(
        "/__admin/faults", json={"seed": 3, "rule": rules}, headers=admin(server)
    )
    assert answer.status_code == 200, answer.text
    last_seq: int = (await journal(api, server, limit=1))["last_seq"]
    return last_seq


async def fired(api: httpx2.AsyncClient, server: LiveServer, since: int) -> list[tuple[Any, ...]]:
    """Each ``fault_fired`` since ``since``: (rule, fault, msg_type, cs)."""
    entries = (await journal(api, server, kind="fault_fired", since=since))["entries"]
    return [(e["rule"], e["fault"], e["msg_type"], e["cs"]) for e in entries]


# -- REST -------------------------------------------------------------------------------------


async def place(
    api: httpx2.AsyncClient, account: Any, side: str, price: int, quantity: str = "0.001"
) -> int:
    body = {
        "quantity": quantity,
        "price": str(price),
        "orderMethod": "limit",
        "orderType": side,
        "pairSymbol": "BTCTRY",
    }
    headers = signed(account, int(time.time() * 1000))
    answer = await api.post("/api/v1/order", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    order_id: int = answer.json()["data"]["id"]
    return order_id


async def bid(api: httpx2.AsyncClient) -> int:
    """A resting bid of ALICE's, above every earlier one (asks, if any, rest far above)."""
    return await place(api, ALICE, "buy", 3_000_000 + 100 * next(_bid_steps))


# -- websocket --------------------------------------------------------------------------------


def url(server: LiveServer) -> str:
    return f"ws://127.0.0.1:{server.port}/"


async def recv(ws: ClientConnection) -> Frame:
    frame: Frame = json.loads(await ws.recv())
    return frame


async def next_frame(ws: ClientConnection, want: int, seconds: float = 5) -> Frame:
    async with asyncio.timeout(seconds):
        while True:
            frame = await recv(ws)
            if frame[0] == want:
                return frame


async def join_obdiff(ws: ClientConnection) -> Frame:
    """Join BTCTRY obdiff; the 431 that answers it."""
    await next_frame(ws, 991)
    await ws.send(
        json.dumps([151, {"type": 151, "channel": "obdiff", "event": "BTCTRY", "join": True}])
    )
    return await next_frame(ws, 431)


async def log_in(ws: ClientConnection, account: Any, nonce: int = 3000) -> None:
    await next_frame(ws, 991)
    digest = hmac.digest(account.secret_bytes, f"{account.key}{nonce}".encode(), "sha256")
    body = {
        "type": 114,
        "publicKey": account.key,
        "timestamp": int(time.time() * 1000),
        "nonce": nonce,
        "signature": base64.b64encode(digest).decode(),
    }
    await ws.send(json.dumps([114, body]))
    assert (await next_frame(ws, 114))[1]["ok"] is True


async def diffs_while_bidding(
    ws: ClientConnection, api: httpx2.AsyncClient, count: int, seconds: float = 8
) -> list[Frame]:
    """The next ``count`` 432 frames, while a new bid joins the book every 0.35 s."""
    stop = asyncio.Event()

    async def churn() -> None:
        while not stop.is_set():
            await bid(api)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.35):
                    await stop.wait()

    bidding = asyncio.create_task(churn())
    out: list[Frame] = []
    try:
        async with asyncio.timeout(seconds):
            while len(out) < count:
                frame = await recv(ws)
                assert frame[0] in (431, 432), frame
                if frame[0] == 432:
                    out.append(frame)
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await bidding
    return out


def cs_of(frames: list[Frame]) -> list[int]:
    return [frame[1]["CS"] for frame in frames]


# -- the faults -------------------------------------------------------------------------------


async def test_ws_gap_the_client_sees_a_changeset_jump_of_two(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    since = await load_plan(api, server, [{"name": "gap-2nd", "kind": "ws_gap", "nth": 2}])
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]
        seen = cs_of(await diffs_while_bidding(ws, api, 3))
    assert seen == [cs + 1, cs + 3, cs + 4], "the second diff never arrived, the rest did"
    assert await fired(api, server, since) == [("gap-2nd", "ws_gap", 432, cs + 2)]


async def test_ws_duplicate_the_client_sees_one_changeset_twice(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    since = await load_plan(api, server, [{"name": "dup-1st", "kind": "ws_duplicate", "nth": 1}])
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]
        frames = await diffs_while_bidding(ws, api, 3)
    assert cs_of(frames) == [cs + 1, cs + 1, cs + 2]
    assert frames[0] == frames[1], "the very same frame, twice"
    assert await fired(api, server, since) == [("dup-1st", "ws_duplicate", 432, cs + 1)]


async def test_ws_reorder_the_client_sees_a_lower_changeset_after_a_higher(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    since = await load_plan(api, server, [{"name": "late-1st", "kind": "ws_reorder", "nth": 1}])
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]
        seen = cs_of(await diffs_while_bidding(ws, api, 3))
    assert seen == [cs + 2, cs + 1, cs + 3], "the first diff came after the second, none lost"
    assert await fired(api, server, since) == [("late-1st", "ws_reorder", 432, cs + 1)]


async def test_ws_malformed_on_431_drops_one_field_of_the_snapshot_only(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    rule = {"name": "bad-snap", "kind": "ws_malformed", "msg_type": 431, "nth": 1}
    since = await load_plan(api, server, [{**rule, "corruption": "drop_field"}])
    async with connect(url(server), open_timeout=10) as ws:
        snapshot = await join_obdiff(ws)
        [diff] = await diffs_while_bidding(ws, api, 1)
    assert snapshot[0] == 431 and len(set(snapshot[1])) == len(INTACT) - 1
    assert set(snapshot[1]) < INTACT, "one field missing, nothing else changed"
    assert set(diff[1]) == INTACT and isinstance(diff[1]["CS"], int), "the next frame is whole"
    [(name, fault, msg_type, cs)] = await fired(api, server, since)
    assert (name, fault, msg_type, cs) == ("bad-snap", "ws_malformed", 431, diff[1]["CS"] - 1)


async def test_ws_malformed_on_432_garbles_one_number_then_the_next_diff_is_whole(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    rule = {"name": "bad-diff", "kind": "ws_malformed", "msg_type": 432, "nth": 1}
    since = await load_plan(api, server, [{**rule, "corruption": "garbage_number"}])
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]  # a 431: not this rule's type, whole
        broken, whole = await diffs_while_bidding(ws, api, 2)
    assert broken[0] == 432 and set(broken[1]) == INTACT
    garbled = [key for key, value in broken[1].items() if value == GARBAGE]
    assert garbled in (["CS"], ["type"]), broken  # the payload's two numbers
    assert set(whole[1]) == INTACT and whole[1]["type"] == 432 and whole[1]["CS"] == cs + 2
    assert await fired(api, server, since) == [("bad-diff", "ws_malformed", 432, cs + 1)]


async def test_ws_drop_type_423_hides_the_trade_while_the_fill_happens(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    rule = {"name": "no-423", "kind": "ws_drop_type", "msg_type": 423}  # no trigger: always
    since = await load_plan(api, server, [rule])
    async with connect(url(server), open_timeout=10) as ws:
        await log_in(ws, ALICE)
        ask = await place(api, BOB, "sell", 5_000_000, "0.01")  # BOB is not on the socket
        taker = await place(api, ALICE, "buy", 5_000_000, "0.01")
        seen: list[Frame] = []
        async with asyncio.timeout(5):
            while not seen or seen[-1][0] != 452:  # the taker's delete ends its messages
                seen.append(await recv(ws))
    assert [frame[0] for frame in seen] == [451, 441, 452], "no 423 between 441 and 452"
    assert {frame[1]["id"] for frame in seen} == {taker}
    fills = (await api.get("/__admin/fills", headers=admin(server))).json()["fills"]
    by_order = {fill["orderId"]: fill for fill in fills if fill["orderId"] in (ask, taker)}
    assert by_order[taker]["account"] == ALICE.key and by_order[taker]["amount"] == "0.01"
    assert by_order[ask]["account"] == BOB.key and by_order[ask]["price"] == "5000000"
    assert await fired(api, server, since) == [("no-423", "ws_drop_type", 423, None)]


async def test_ws_stall_silences_an_open_socket_that_still_answers_pings(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    rule = {"name": "stall", "kind": "ws_stall", "msg_type": 432, "nth": 1, "duration_ms": 1500}
    since = await load_plan(api, server, [rule])
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]
        frames: list[Frame] = []
        arrived = asyncio.Event()

        async def read() -> None:
            while True:
                frames.append(await recv(ws))
                arrived.set()

        reader = asyncio.create_task(read())
        try:
            start = time.monotonic()
            await bid(api)  # its diff (cs + 1) starts the stall and is lost
            await asyncio.sleep(start + 0.8 - time.monotonic())
            await bid(api)  # its diff (cs + 2) falls inside the stall
            await asyncio.sleep(start + 1.0 - time.monotonic())
            async with asyncio.timeout(1):
                latency = await (await ws.ping())  # the socket is open: a pong comes back
            assert time.monotonic() - start < 1.5 and latency < 1
            await asyncio.sleep(start + 2.2 - time.monotonic())  # the stall is over
            assert frames == [], "nothing at all during the stall"
            await bid(api)  # its diff (cs + 3) goes out
            async with asyncio.timeout(3):
                await arrived.wait()
            await asyncio.sleep(0.3)  # anything else would come with it or soon after
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    assert [frame[0] for frame in frames] == [432] and cs_of(frames) == [cs + 3]
    assert await fired(api, server, since) == [("stall", "ws_stall", 432, cs + 1)]


async def test_ws_drop_closes_the_socket_with_1008_and_a_reconnect_works(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    rule = {"name": "drop-1st", "kind": "ws_drop", "msg_type": 432, "nth": 1}
    since = await load_plan(api, server, [rule])
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await diffs_while_bidding(ws, api, 1)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    async with connect(url(server), open_timeout=10) as ws:
        snapshot = await join_obdiff(ws)
        [diff] = await diffs_while_bidding(ws, api, 1)
    assert snapshot[1]["CS"] == cs + 1, "the venue published the diff the dropped client lost"
    assert diff[1]["CS"] == cs + 2, "the rule fired once: the new socket gets its diffs"
    assert await fired(api, server, since) == [("drop-1st", "ws_drop", 432, cs + 1)]
    closes = (await journal(api, server, kind="ws_closed", since=since))["entries"]
    assert [entry["reason"] for entry in closes][:1] == ["ws_drop"]


async def test_the_journal_names_the_rule_behind_each_firing(
    server: LiveServer, api: httpx2.AsyncClient
) -> None:
    rules = [
        {"name": "twice-1st", "kind": "ws_duplicate", "nth": 1},
        {"name": "lose-3rd", "kind": "ws_gap", "nth": 3},
    ]
    since = await load_plan(api, server, rules)
    async with connect(url(server), open_timeout=10) as ws:
        cs = (await join_obdiff(ws))[1]["CS"]
        seen = cs_of(await diffs_while_bidding(ws, api, 4))
    assert seen == [cs + 1, cs + 1, cs + 2, cs + 4]
    entries = (await journal(api, server, kind="fault_fired", since=since))["entries"]
    assert [(e["rule"], e["fault"], e["counter"], e["cs"]) for e in entries] == [
        ("twice-1st", "ws_duplicate", 1, cs + 1),
        ("lose-3rd", "ws_gap", 3, cs + 3),
    ]
    state = (await api.get("/__admin/faults", headers=admin(server))).json()
    assert state["fired"] == {"twice-1st": 1, "lose-3rd": 1}
