"""The one BTCTurk adapter: REST and websocket behind one object, built from one config.

``Exchange.create(config)`` is where the bot starts talking to a venue. It validates the
secret as strict base64 before anything is sent (``ConfigError`` otherwise: a secret two
code paths decode differently was one of the audited bot's defects), builds the single
``RateBudget`` every caller in the process shares, the clock offset estimate, the REST
client and the websocket client. The same code points at the mock or at the real BTCTurk:
only ``ExchangeConfig``'s URLs differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from bot.core.clock import OffsetEstimator, StampSource
from bot.core.ratelimit import RateBudget
from bot.core.retry import Backoff, RetryPolicy, seed_for
from bot.errors import ConfigError
from bot.exchange.rest import RestClient
from bot.exchange.signing import Credentials, ws_login
from bot.exchange.stream import Connect, StreamClient, websockets_connect

__all__ = ["LIVE_REST_URL", "LIVE_WS_URL", "Exchange", "ExchangeConfig"]

LIVE_REST_URL = "https://api.btcturk.com"
LIVE_WS_URL = "wss://ws-feed-pro.btcturk.com"
WS_LOGIN_NONCE = 3000  # the documented sample's nonce; 100..60000 are accepted (§8.4)


@dataclass(frozen=True)
class ExchangeConfig:
    api_key: str
    api_secret: str = field(repr=False)  # base64, as the venue issues it
    rest_url: str = LIVE_REST_URL
    ws_url: str = LIVE_WS_URL
    pairs: tuple[str, ...] = ("BTCTRY",)
    channels: tuple[str, ...] = ("obdiff", "trade", "orderbook")
    timeout_s: float = 10.0
    rate_margin: float = 0.8
    stamp_tolerance_ms: int = 3_000
    stale_after_s: float = 15.0
    queue_size: int = 1_000
    identity: str = ""  # seeds retry jitter; default: host and pid

    def __post_init__(self) -> None:
        if not self.rest_url.startswith(("http://", "https://")):
            raise ConfigError(f"rest_url must be http(s)://..., got {self.rest_url!r}")
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ConfigError(f"ws_url must be ws(s)://..., got {self.ws_url!r}")
        if not self.pairs:
            raise ConfigError("at least one pair is needed")
        if self.timeout_s <= 0 or not 0 < self.rate_margin <= 1:
            raise ConfigError("timeout_s must be positive and rate_margin in (0, 1]")

    def credentials(self) -> Credentials:
        """Strict base64 or ``ConfigError``; the message never shows the secret."""
        return Credentials.from_base64(self.api_key, self.api_secret)


def _identity() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"


class Exchange:
    """REST and websocket for one account; ``start`` syncs the clock and opens the feed."""

    def __init__(self, rest: RestClient, stream: StreamClient, budget: RateBudget) -> None:
        self.rest = rest
        self.stream = stream
        self.budget = budget
        self._stream_task: asyncio.Task[None] | None = None

    @classmethod
    def create(
        cls,
        config: ExchangeConfig,
        *,
        http: httpx2.AsyncClient | None = None,
        connect: Connect | None = None,
        now_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> Exchange:
        credentials = config.credentials()
        jitter = rng or random.Random(seed_for(config.identity or _identity()))
        clock_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        budget = RateBudget(margin=config.rate_margin)
        rest = RestClient(
            http or httpx2.AsyncClient(base_url=config.rest_url),
            credentials=credentials,
            budget=budget,
            stamps=StampSource(OffsetEstimator(), tolerance_ms=config.stamp_tolerance_ms),
            now_ms=clock_ms,
            sleep=sleep,
            backoff=Backoff(jitter),
            policy=RetryPolicy(),
            timeout_s=config.timeout_s,
        )

        def login() -> list[Any]:
            return ws_login(credentials, WS_LOGIN_NONCE, clock_ms())

        stream = StreamClient(
            config.ws_url,
            connect or websockets_connect(),
            pairs=config.pairs,
            channels=config.channels,
            login_frame=login,
            queue_size=config.queue_size,
            stale_after_s=config.stale_after_s,
            rng=jitter,
            now=lambda: clock_ms() / 1000,
            sleep=sleep,
        )
        return cls(rest, stream, budget)

    async def start(self) -> None:
        await self.rest.sync_clock()
        self._stream_task = asyncio.ensure_future(self.stream.run())

    async def close(self) -> None:
        self.stream.stop()
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
        await self.rest.http.aclose()
