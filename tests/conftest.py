"""Shared fixtures: factories for an in-process mock venue, signed headers, and one real
uvicorn server for end-to-end socket tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest
from hypothesis import settings as hypothesis_settings

from mock_exchange.accounts import Account
from mock_exchange.app import MockExchange, create_app
from mock_exchange.auth import sign
from mock_exchange.clock import VirtualClock
from mock_exchange.settings import MockSettings

hypothesis_settings.register_profile("default", deadline=None, print_blob=True)
hypothesis_settings.load_profile("default")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "btcturk"
ADMIN_TOKEN = "test-admin-token"

ALICE = Account(
    key="7a1c0e3e-0b5d-4c55-9d0a-1e2f3a4b5c6d",
    secret="YWxpY2Utc2VjcmV0LWFsaWNlLXNlY3JldC1hbGljZSE=",
    name="alice",
    balances={
        "TRY": Decimal("10000000"),
        "BTC": Decimal("5"),
        "ETH": Decimal("50"),
        "USDT": Decimal("100000"),
    },
)
BOB = Account(
    key="0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a",
    secret="Ym9iLXNlY3JldC1ib2Itc2VjcmV0LWJvYi1zZWNyZXQ=",
    name="bob",
    balances={
        "TRY": Decimal("10000000"),
        "BTC": Decimal("5"),
        "ETH": Decimal("50"),
        "USDT": Decimal("100000"),
    },
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def signed(account: Account, stamp_ms: int) -> dict[str, str]:
    return {
        "X-PCK": account.key,
        "X-Stamp": str(stamp_ms),
        "X-Signature": sign(account.key, account.secret_bytes, stamp_ms),
        "Content-Type": "application/json",
    }


@dataclass
class Venue:
    """An in-process mock venue under a virtual clock, with a client over ASGI."""

    mock: MockExchange
    clock: VirtualClock
    client: httpx2.AsyncClient
    accounts: list[Account] = field(default_factory=list)

    def headers(self, account: Account = ALICE) -> dict[str, str]:
        return signed(account, self.clock.now_ms())

    async def get(self, path: str, account: Account | None = None, **kw: object) -> httpx2.Response:
        headers = self.headers(account) if account else {}
        return await self.client.get(path, headers=headers, **kw)  # type: ignore[arg-type]

    async def post_order(self, body: object, account: Account = ALICE) -> httpx2.Response:
        return await self.client.post("/api/v1/order", headers=self.headers(account), json=body)

    async def cancel(self, order_id: int | str, account: Account = ALICE) -> httpx2.Response:
        return await self.client.delete(
            "/api/v1/order", params={"id": str(order_id)}, headers=self.headers(account)
        )

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


VenueFactory = Callable[..., Venue]


@pytest.fixture
async def make_venue() -> Iterator[VenueFactory]:  # type: ignore[misc]
    """``make_venue(market=False, rate_limits=False, **settings)`` builds a fresh venue."""
    clients: list[httpx2.AsyncClient] = []

    def factory(**overrides: object) -> Venue:
        options: dict[str, object] = {
            "market": False,
            "rate_limits": False,
            "admin_token": ADMIN_TOKEN,
        }
        options.update(overrides)
        accounts = options.pop("accounts", [ALICE, BOB])
        settings = MockSettings(**options)  # type: ignore[arg-type]
        clock = VirtualClock()
        mock = MockExchange(settings, clock, list(accounts))  # type: ignore[call-overload]
        app = create_app(settings, mock=mock)
        client = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://mock.test"
        )
        clients.append(client)
        return Venue(mock, clock, client, list(accounts))  # type: ignore[call-overload]

    yield factory
    for client in clients:
        await client.aclose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    port: int
    process: subprocess.Popen[str]
    admin_token: str
    accounts_file: Path


def write_accounts(path: Path, accounts: list[Account]) -> Path:
    lines = []
    for account in accounts:
        lines += [
            "[[account]]",
            f'key = "{account.key}"',
            f'secret = "{account.secret}"',
            f'name = "{account.name}"',
            "[account.balances]",
        ]
        lines += [f'{asset} = "{amount}"' for asset, amount in account.balances.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_server(tmp: Path, *extra: str) -> LiveServer:
    """``mock-exchange serve`` as its own process on a free loopback port."""
    port = free_port()
    accounts = write_accounts(tmp / "accounts.toml", [ALICE, BOB])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_exchange.cli",
            "serve",
            "--port",
            str(port),
            "--accounts",
            str(accounts),
            "--admin-token",
            ADMIN_TOKEN,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"mock-exchange exited early:\n{output}")
        try:
            httpx2.get(f"http://127.0.0.1:{port}/api/v2/server/time", timeout=1)
            break
        except httpx2.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("mock-exchange did not start within 60 s")
    return LiveServer(f"http://127.0.0.1:{port}", port, process, ADMIN_TOKEN, accounts)


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real mock under uvicorn per test module: market on, rate limits off."""
    server = start_server(tmp_path_factory.mktemp("live"), "--rate-limits", "off", "--seed", "7")
    yield server
    stop_server(server)
