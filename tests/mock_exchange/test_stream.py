"""The websocket feed's shell: outboxes, the connection limit, slow subscribers, every
websocket fault of the plan, and the feed over a real socket (reference §8)."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx2
import pytest
import websockets
from websockets.asyncio.client import connect

from mock_exchange.app import MockExchange
from mock_exchange.clock import VirtualClock
from mock_exchange.faults import FaultPlan
from mock_exchange.settings import MockSettings
from mock_exchange.stream import Connection, StreamConfig, StreamHub
from mock_exchange.validation import OrderRequest
from tests.conftest import ALICE, BOB, LiveServer, signed, start_server, stop_server

# -- in memory ---------------------------------------------------------------------------------


def hub_with(
    rules: list[dict[str, Any]] | None = None, seed: int = 5, **stream: Any
) -> tuple[MockExchange, StreamHub, VirtualClock]:
    clock = VirtualClock()
    plan = FaultPlan.from_mapping({"seed": seed, "rule": rules or []})
    settings = MockSettings(
        market=False, rate_limits=False, faults=plan, stream=StreamConfig(**stream)
    )
    mock = MockExchange(settings, clock, [ALICE, BOB])
    return mock, mock.stream, clock


def frames(conn: Connection) -> list[list[Any]]:
    out = [json.loads(text) for text in conn.outbox]
    conn.outbox.clear()
    return out


def types(conn: Connection) -> list[int]:
    return [frame[0] for frame in frames(conn)]


def join(hub: StreamHub, conn: Connection, channel: str, event: str = "BTCTRY") -> None:
    hub.receive(
        conn, json.dumps([151, {"type": 151, "channel": channel, "event": event, "join": True}])
    )


def login(hub: StreamHub, conn: Connection, account: Any = ALICE, nonce: int = 3000) -> None:
    digest = base64.b64encode(
        hmac.digest(account.secret_bytes, f"{account.key}{nonce}".encode(), "sha256")
    ).decode()
    hub.receive(
        conn,
        json.dumps(
            [
                114,
                {
                    "type": 114,
                    "publicKey": account.key,
                    "timestamp": 0,
                    "nonce": nonce,
                    "signature": digest,
                },
            ]
        ),
    )


def order(mock: MockExchange, side: str, qty: str, price: str, account: Any = BOB) -> int:
    request = OrderRequest("BTCTRY", side, "limit", D(qty), D(price))
    return mock.venue.submit(account.key, request, mock.now()).id


def book_messages(
    hub: StreamHub, mock: MockExchange, clock: VirtualClock, conn: Connection, changes: int
) -> list[list[Any]]:
    """Make ``changes`` book changes, one per obdiff period, and collect what arrives."""
    out: list[list[Any]] = []
    for i in range(changes):
        order(mock, "buy", "0.01", str(3_000_000 + i * 100))
        clock.advance(300)
        hub.tick()
        out += frames(conn)
    return out


def test_a_connection_gets_the_version_message_then_acks_and_snapshots() -> None:
    _mock, hub, _ = hub_with()
    conn = hub.open("10.0.0.1")
    assert frames(conn) == [[991, {"type": 991, "current": "5.1.0", "min": "2.3.0"}]]
    join(hub, conn, "obdiff")
    ack, snapshot = frames(conn)
    assert ack == [100, {"type": 100, "ok": True, "message": "join|obdiff:BTCTRY"}]
    assert snapshot[0] == 431 and snapshot[1]["PS"] == "BTCTRY"


def test_private_events_reach_the_logged_in_owner_only() -> None:
    mock, hub, _clock = hub_with()
    alice, bob = hub.open("10.0.0.1"), hub.open("10.0.0.2")
    login(hub, alice, ALICE)
    login(hub, bob, BOB)
    frames(alice), frames(bob)
    order(mock, "sell", "0.1", "4000000", BOB)
    request = OrderRequest("BTCTRY", "buy", "limit", D("0.04"), D("4000000"), client_id="c-1")
    mock.venue.submit(ALICE.key, request, mock.now())
    alice_types = types(alice)
    assert alice_types[:3] == [451, 441, 423] and 452 in alice_types
    assert 451 in types(bob)  # bob saw his own insert, and his fill
    kinds = [e.kind for e in mock.journal.entries(kinds=["ws_connected", "ws_login"])]
    assert kinds == ["ws_connected", "ws_connected", "ws_login", "ws_login"]


def test_the_sixteenth_connection_attempt_in_a_minute_is_refused() -> None:
    mock, hub, clock = hub_with()
    assert all(hub.admit("10.0.0.9") for _ in range(15))
    assert not hub.admit("10.0.0.9")
    assert hub.admit("10.0.0.10")  # per IP
    clock.advance(60_001)
    assert hub.admit("10.0.0.9")
    assert mock.journal.entries(kinds=["ws_refused"])[0].data == {
        "ip": "10.0.0.9",
        "reason": "rate",
    }


def test_a_slow_subscriber_is_cut_off_and_the_venue_goes_on() -> None:
    mock, hub, _clock = hub_with(outbox_limit=5)
    slow = hub.open("10.0.0.1")
    join(hub, slow, "trade")
    for _i in range(10):
        order(mock, "sell", "0.01", "4000000", BOB)
        order(mock, "buy", "0.01", "4000000", ALICE)
    assert slow.closed == "slow consumer" and not slow.outbox
    assert slow.id not in hub.connections
    assert len(mock.venue.fills) == 20  # matching went on regardless


def test_ws_gap_skips_a_changeset() -> None:
    mock, hub, clock = hub_with([{"kind": "ws_gap", "nth": 2}])
    conn = hub.open("10.0.0.1")
    join(hub, conn, "obdiff")
    frames(conn)
    diffs = [f[1]["CS"] for f in book_messages(hub, mock, clock, conn, 4) if f[0] == 432]
    assert len(diffs) == 3 and diffs[1] == diffs[0] + 2  # the second diff never arrived
    fired = mock.journal.entries(kinds=["fault_fired"])
    assert [(e.data["fault"], e.data["msg_type"]) for e in fired] == [("ws_gap", 432)]


def test_ws_duplicate_and_ws_reorder() -> None:
    mock, hub, clock = hub_with([{"kind": "ws_duplicate", "nth": 1}])
    conn = hub.open("10.0.0.1")
    join(hub, conn, "obdiff")
    frames(conn)
    cs = [f[1]["CS"] for f in book_messages(hub, mock, clock, conn, 3) if f[0] == 432]
    assert cs[0] == cs[1] and cs[2] == cs[0] + 1 and cs[3] == cs[0] + 2

    mock, hub, clock = hub_with([{"kind": "ws_reorder", "nth": 1}])
    conn = hub.open("10.0.0.1")
    join(hub, conn, "obdiff")
    frames(conn)
    cs = [f[1]["CS"] for f in book_messages(hub, mock, clock, conn, 3) if f[0] == 432]
    assert cs[1] == cs[0] - 1 and cs[2] == cs[0] + 1  # the first came after the second


def test_ws_malformed_breaks_one_payload() -> None:
    mock, hub, clock = hub_with([{"kind": "ws_malformed", "nth": 1, "corruption": "drop_field"}])
    conn = hub.open("10.0.0.1")
    frames(conn)
    join(hub, conn, "obdiff")
    messages = frames(conn)
    snapshot = messages[1][1]
    assert messages[1][0] == 431
    intact = {"CS", "PS", "AO", "BO", "channel", "event", "type"}
    assert set(snapshot) < intact  # one field gone
    later = book_messages(hub, mock, clock, conn, 1)
    assert set(later[0][1]) == intact  # the next one is whole


def test_ws_drop_type_silences_one_message_type_only() -> None:
    mock, hub, _clock = hub_with([{"kind": "ws_drop_type", "msg_type": 423}])
    conn = hub.open("10.0.0.1")
    login(hub, conn, ALICE)
    frames(conn)
    order(mock, "sell", "0.1", "4000000", BOB)
    mock.venue.submit(
        ALICE.key, OrderRequest("BTCTRY", "buy", "limit", D("0.1"), D("4000000")), mock.now()
    )
    seen = types(conn)
    assert 441 in seen and 451 in seen and 423 not in seen


def test_ws_drop_closes_the_connection() -> None:
    mock, hub, _clock = hub_with([{"kind": "ws_drop", "msg_type": 431, "nth": 1}])
    conn = hub.open("10.0.0.1")
    join(hub, conn, "orderbook")
    assert conn.closed == "ws_drop" and conn.close_code == 1008
    assert conn.id not in hub.connections
    closed = mock.journal.entries(kinds=["ws_closed"])
    assert closed[0].data == {"conn": conn.id, "reason": "ws_drop"}


def test_ws_stall_silences_the_socket_until_it_ends() -> None:
    mock, hub, clock = hub_with(
        [{"kind": "ws_stall", "msg_type": 432, "nth": 1, "duration_ms": 2_000}]
    )
    conn = hub.open("10.0.0.1")
    join(hub, conn, "obdiff")
    frames(conn)
    during = book_messages(hub, mock, clock, conn, 5)  # 1.5 s of changes
    assert during == [] and conn.closed is None
    after = book_messages(hub, mock, clock, conn, 3)
    assert [f[0] for f in after] and all(f[0] in (431, 432) for f in after)


def test_the_same_seed_gives_the_same_websocket_faults() -> None:
    rules = [{"kind": "ws_gap", "probability": 0.3}, {"kind": "ws_duplicate", "probability": 0.2}]

    def run(seed: int) -> list[Any]:
        mock, hub, clock = hub_with(rules, seed=seed)
        conn = hub.open("10.0.0.1")
        join(hub, conn, "obdiff")
        return book_messages(hub, mock, clock, conn, 30)

    assert run(5) == run(5)
    assert run(5) != run(6)


# -- over a real socket -------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("ws")
    plan = Path(tmp / "faults.toml")
    plan.write_text('seed = 1\n[[rule]]\nkind = "ws_drop"\nmsg_type = 402\nnth = 3\n')
    server = start_server(tmp, "--rate-limits", "off", "--no-market", "--faults", str(plan))
    yield server
    stop_server(server)


async def next_frame(ws: Any, want: int) -> list[Any]:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame[0] == want:
                return frame


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/", "/ws"])
async def test_a_websocket_client_logs_in_and_sees_its_order(
    ws_server: LiveServer, path: str
) -> None:
    url = f"ws://127.0.0.1:{ws_server.port}{path}"
    async with connect(url, open_timeout=10) as ws:
        assert (await next_frame(ws, 991))[1]["current"] == "5.1.0"
        digest = base64.b64encode(
            hmac.digest(ALICE.secret_bytes, f"{ALICE.key}3000".encode(), "sha256")
        ).decode()
        await ws.send(
            json.dumps(
                [
                    114,
                    {
                        "type": 114,
                        "publicKey": ALICE.key,
                        "timestamp": 1,
                        "nonce": 3000,
                        "signature": digest,
                    },
                ]
            )
        )
        assert (await next_frame(ws, 114))[1]["ok"] is True
        async with httpx2.AsyncClient(base_url=ws_server.base_url) as client:
            headers = signed(ALICE, int(time.time() * 1000))
            body = {
                "quantity": "0.001",
                "price": "3000000",
                "orderMethod": "limit",
                "orderType": "buy",
                "pairSymbol": "BTCTRY",
                "newOrderClientId": f"ws{path}",
            }
            placed = (await client.post("/api/v1/order", headers=headers, json=body)).json()
        insert = await next_frame(ws, 451)
        assert insert[1]["id"] == placed["data"]["id"]
        assert insert[1]["newOrderClientId"] == f"ws{path}"


@pytest.mark.anyio
async def test_ws_drop_closes_a_real_socket(ws_server: LiveServer) -> None:
    url = f"ws://127.0.0.1:{ws_server.port}/"
    async with connect(url, open_timeout=10) as ws:
        await next_frame(ws, 991)
        await ws.send(
            json.dumps([151, {"type": 151, "channel": "ticker", "event": "BTCTRY", "join": True}])
        )
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(15):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.anyio
async def test_the_sixteenth_connection_in_a_minute_gets_a_429(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--rate-limits", "off", "--no-market")
    try:
        url = f"ws://127.0.0.1:{server.port}/"
        for _ in range(15):
            async with connect(url, open_timeout=10) as ws:
                await next_frame(ws, 991)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(url, open_timeout=10):
                pass
        assert refused.value.response.status_code == 429
    finally:
        stop_server(server)
