"""The one adapter: REST and websocket for one account, against a real mock server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal as D

import pytest

from bot.core.types import OrderMethod, Side
from bot.exchange.adapter import Exchange, ExchangeConfig
from bot.exchange.channels import OrderInsert
from bot.exchange.rest import OrderRequest
from tests.conftest import ALICE, LiveServer, start_server, stop_server

pytestmark = pytest.mark.anyio


async def until(condition: Callable[[], bool]) -> None:
    """Poll the client's state (it has no event to wait on for these), for at most 15 s."""
    async with asyncio.timeout(15):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("adapter"), "--no-market", "--rate-limits", "on")
    yield live
    stop_server(live)


async def test_one_adapter_places_over_rest_and_hears_it_over_the_websocket(
    server: LiveServer,
) -> None:
    config = ExchangeConfig(
        api_key=ALICE.key,
        api_secret=ALICE.secret,
        rest_url=server.base_url,
        ws_url=server.base_url.replace("http://", "ws://"),
        channels=("obdiff",),
    )
    exchange = Exchange.create(config)
    try:
        await exchange.start()
        assert exchange.rest.stamps.trusted
        await until(lambda: exchange.stream.logged_in)
        request = OrderRequest(
            "BTCTRY", Side.BUY, OrderMethod.LIMIT, D("0.001"), "adapter-1", price=D("3000000")
        )
        ack = await exchange.rest.submit(request)
        async with asyncio.timeout(15):
            while True:
                event = await exchange.stream.private_events.get()
                if isinstance(event, OrderInsert):
                    break
        assert (event.id, event.client_id) == (ack.id, "adapter-1")
        book = exchange.stream.books["BTCTRY"]
        await until(lambda: not book.dirty and bool(book.snapshot().bids))
        assert exchange.stream.books["BTCTRY"].snapshot().bids[0].price == D("3000000")
    finally:
        await exchange.close()
