"""The ``wire`` engine: the mock under uvicorn and the bot as its own process, over real
loopback sockets, killed with SIGKILL at the scenario's crash points and restarted.

``run_wire_sync(scenario, seed, workdir, duration_scale=None)`` starts ``mock-exchange
serve`` (127.0.0.1, a free port, ``--seed``, an accounts file with the funded bot account
and a helper, ``--admin-token``, a high ``--ws-connects-per-minute``, ``--no-market`` when
the scenario turns the market off, ``--journal`` into ``workdir``), writes the bot's TOML
(``sim_settings`` with the venue URLs pointed at the mock) and runs ``python -m bot.cli run``
with the secrets in its environment, its output captured line by line into ``workdir``.
At the end it lifts the faults, stops the bot with SIGTERM (it must exit 0), runs
``btcbot reconcile`` to settle, and reads the ground truth from ``/__admin`` and the bot's
books from its store file.

Time is the wall clock. ``duration_scale`` (default: ``CHAOS_WIRE_SCALE`` or 0.25) shortens
the run: the run lasts ``duration_s * scale`` and every ``at_s`` crash point moves to
``at_s * scale``. Nothing else is scaled: fault windows, ``restart_after_s`` and mode
expectations keep their seconds (they describe the bot's reaction times, and a window may
then reach past the shortened run).

The fault plan (the scenario's, seeded like the sim's) is written to ``workdir/faults.json``
and loaded with ``PUT /__admin/faults`` at the run's start, after the set-up orders, so its
windows count from the run's start and no set-up request meets a fault.

Crash points: ``at_s`` kills the bot (SIGKILL) at that time; it is restarted on the same
store ``restart_after_s`` later. Event points are approximated by polling every 20 ms, each
counting from the moment the previous one fired: ``after_intent_commit`` fires when the
store file shows ``nth`` new order rows (the request has usually left by then: the crash
lands somewhere between the commit and the answer), ``after_request_sent`` when the mock's
journal shows ``nth`` new ``order_accepted`` entries of the bot's account (the answer may
already have reached the bot). A bot that exits by itself is restarted after one second.

Set-up keys: ``balances``, ``static_book`` (the helper rests five bids and five asks over
REST), ``external_orders`` (placed over REST, signed with the bot's key, before the bot
starts), ``exchangeinfo_unavailable_s`` (a fault rule) and ``bad_secret`` (the bot must exit
2 at start-up; the run ends there). Any other key is refused with a ``ValueError`` naming it.

What cannot be read from another process is approximated: the mode history is parsed from
the bot's ``mode A -> B: [...]`` log lines (plus an observe entry at every kill: the bot is
down); illegal transitions are the ``illegal ...`` log lines; the bot's balances are the
account's starting funds plus the fills in its store (what the bot itself expects);
``rate_limit_blocks`` counts the bot's logged "rate limited" retries less the journal's
injected ``http_429`` firings (the mock does not journal its own limiter's refusals).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from pathlib import Path
from typing import IO, Any

import httpx2

from bot.core.portfolio import Portfolio
from bot.store.repository import Store
from chaos.engines.sim import (
    _RAW_SECRET,
    BOT_ACCOUNT,
    HELPER_ACCOUNT,
    PAIR,
    _Crashes,
    _plain,
    run_fault_plan,
    sim_settings,
    to_toml,
)
from chaos.model import CrashPoint, RunResult, Scenario
from mock_exchange.accounts import Account
from mock_exchange.auth import sign
from mock_exchange.faults import FaultPlan
from mock_exchange.rules import DEFAULT_PAIRS

__all__ = ["DEFAULT_SCALE", "SCALE_ENV", "run_wire_sync"]

SCALE_ENV = "CHAOS_WIRE_SCALE"
DEFAULT_SCALE = 0.25
ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "chaos-wire-admin"  # noqa: S105 (loopback only, a throwaway mock)
HOST = "127.0.0.1"
POLL_S = 0.02
STARTUP_S = 60.0
STOP_S = 30.0
RECONCILE_S = 120.0
_SETUP_KEYS = frozenset(
    {"balances", "static_book", "external_orders", "exchangeinfo_unavailable_s", "bad_secret"}
)
_BAD_SECRET = base64.urlsafe_b64encode(_RAW_SECRET).decode("ascii").rstrip("=")
_MODE_LINE = re.compile(r"^mode (\w+) -> (\w+): (\[.*\])$", re.DOTALL)
_ILLEGAL = re.compile(r"illegal (\S+) for (\S+) in (\S+?):")
_RATE_LIMITED = re.compile(r"rate limited; retry after")


def run_wire_sync(
    scenario: Scenario, seed: int, workdir: Path, duration_scale: float | None = None
) -> RunResult:
    """Run ``scenario`` once over real sockets; ``workdir`` holds every file of the run."""
    unknown = sorted(set(scenario.setup) - _SETUP_KEYS)
    if unknown:
        raise ValueError(
            f"scenario {scenario.name}: setup keys {unknown} are not supported by the wire "
            f"engine (supported: {sorted(_SETUP_KEYS)})"
        )
    if scenario.canary:
        raise ValueError(
            f"scenario {scenario.name}: canary {scenario.canary!r} is not supported by the "
            "wire engine (a canary is switched inside the bot's process; use the sim engine)"
        )
    if duration_scale is None:
        duration_scale = float(os.environ.get(SCALE_ENV, DEFAULT_SCALE))
    if not duration_scale > 0:
        raise ValueError(f"duration_scale must be positive, not {duration_scale}")
    workdir.mkdir(parents=True, exist_ok=True)
    run = _Wire(scenario, seed, workdir, duration_scale)
    try:
        return run.run()
    finally:
        run.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    """This environment without the bot's secrets, the repository importable, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTCBOT_")}
    path = [str(ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update({"PYTHONPATH": os.pathsep.join(path), "PYTHONUNBUFFERED": "1", **extra})
    return env


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _write_accounts(path: Path, accounts: list[Account]) -> None:
    lines: list[str] = []
    for account in accounts:
        lines += [
            "[[account]]",
            f'key = "{account.key}"',
            f'secret = "{account.secret}"',
            f'name = "{account.name}"',
            "[account.balances]",
        ]
        lines += [f'{asset} = "{amount}"' for asset, amount in account.balances.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _stop(process: subprocess.Popen[bytes], sig: int, timeout_s: float) -> int:
    """Send ``sig`` (if alive), wait ``timeout_s``, then SIGKILL; the exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)
    return int(process.returncode)


_Books = tuple[list[Any], list[Any], dict[str, str], dict[str, str], list[str]]


@dataclasses.dataclass
class _Proc:
    number: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    path: Path


class _Wire:
    def __init__(self, scenario: Scenario, seed: int, workdir: Path, scale: float) -> None:
        self.scenario = scenario
        self.seed = seed
        self.workdir = workdir.resolve()
        self.scale = scale
        self.setup = dict(scenario.setup)
        self.notes: list[str] = [f"wire: duration scale {scale:g}"]
        self.port = _free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.mock: subprocess.Popen[bytes] | None = None
        self.mock_log: IO[bytes] | None = None
        self.bot: _Proc | None = None
        self.bots: list[_Proc] = []
        self.admin = httpx2.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        funds = self.setup.get("balances")
        self.account = BOT_ACCOUNT
        if funds is not None:
            balances = {str(a).upper(): Decimal(str(v)) for a, v in dict(funds).items()}
            self.account = dataclasses.replace(BOT_ACCOUNT, balances=balances)
        self.secret = _BAD_SECRET if self.setup.get("bad_secret") else BOT_ACCOUNT.secret
        self.config = self.workdir / "btcbot.toml"
        self.deaths: list[dict[str, Any]] = []
        self.external_ids: set[int] = set()
        self.start_ms = 0
        self.stop_code: int | None = None

    # -- processes --------------------------------------------------------------------------

    def _start_mock(self) -> None:
        accounts = self.workdir / "accounts.toml"
        _write_accounts(accounts, [self.account, HELPER_ACCOUNT])
        args = [
            sys.executable,
            "-m",
            "mock_exchange.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--seed",
            str(self.seed),
            "--accounts",
            str(accounts),
            "--admin-token",
            ADMIN_TOKEN,
            "--ws-connects-per-minute",
            "10000",
            "--journal",
            str(self.workdir / "journal.jsonl"),
        ]
        if not self.scenario.market:
            args.append("--no-market")
        self.mock_log = (self.workdir / "mock.log").open("wb")
        self.mock = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            args,
            stdout=self.mock_log,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.mock.poll() is not None:
                text = (self.workdir / "mock.log").read_text(errors="replace")
                raise RuntimeError(f"mock-exchange exited early ({self.mock.returncode}):\n{text}")
            try:
                httpx2.get(f"{self.base}/api/v2/server/time", timeout=1)
                return
            except httpx2.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"mock-exchange did not answer within {STARTUP_S:g} s")

    def _write_config(self) -> None:
        settings = sim_settings(self.scenario, self.workdir)
        settings["venue"] = {"rest_url": self.base, "ws_url": f"ws://{HOST}:{self.port}/"}
        self.config.write_text(to_toml(settings), encoding="utf-8")

    def _bot_env(self) -> dict[str, str]:
        return _env(BTCBOT_API_KEY=self.account.key, BTCBOT_API_SECRET=self.secret)

    def _start_bot(self) -> _Proc:
        number = len(self.bots) + 1
        path = self.workdir / f"bot-{number}.log"
        log = path.open("wb")
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
            [sys.executable, "-m", "bot.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._bot_env(),
            cwd=self.workdir,
            start_new_session=True,
        )
        proc = _Proc(number, process, log, path)
        self.bots.append(proc)
        self.bot = proc
        return proc

    def _kill_bot(self, why: str) -> None:
        proc = self.bot
        assert proc is not None
        _stop(proc.process, signal.SIGKILL, 10)
        proc.log.close()
        now = _now_ms()
        self.deaths.append({"at_ms": now, "why": why, "start": proc.number})
        self.notes.append(f"{why} at {now - self.start_ms} ms (start {proc.number})")
        self.bot = None

    def cleanup(self) -> None:
        for proc in self.bots:
            _stop(proc.process, signal.SIGKILL, 10)
            if not proc.log.closed:
                proc.log.close()
        if self.mock is not None:
            code = _stop(self.mock, signal.SIGTERM, 20)
            if code != 0:
                self.notes.append(f"mock-exchange exited {code}")
        if self.mock_log is not None and not self.mock_log.closed:
            self.mock_log.close()
        self.admin.close()

    # -- set-up -----------------------------------------------------------------------------

    def _fault_plan(self) -> dict[str, Any]:
        data = run_fault_plan(self.scenario, self.seed, self.setup)
        FaultPlan.from_mapping(data)  # a bad plan fails here, with the plan's own message
        return data

    def _submit(self, account: Account, side: str, price: Decimal, qty: Decimal, pair: str) -> int:
        stamp = _now_ms()
        headers = {
            "X-PCK": account.key,
            "X-Stamp": str(stamp),
            "X-Signature": sign(account.key, account.secret_bytes, stamp),
            "Content-Type": "application/json",
        }
        body = {
            "pairSymbol": pair,
            "orderType": side,
            "orderMethod": "limit",
            "price": format(price, "f"),
            "quantity": format(qty, "f"),
        }
        answer = httpx2.post(f"{self.base}/api/v1/order", headers=headers, json=body, timeout=10)
        if answer.status_code != 200:
            raise RuntimeError(f"set-up order refused: {answer.status_code} {answer.text}")
        return int(answer.json()["data"]["id"])

    def _prepare_venue(self) -> None:
        rules = next(r for r in DEFAULT_PAIRS if f"{r.base}{r.quote}" == PAIR)
        if self.setup.get("static_book", not self.scenario.market):
            ref = rules.reference_price
            size = (rules.min_exchange_value * 200 / ref).quantize(rules.amount_quantum)
            for level in range(5):
                away = Decimal(30 + 10 * level) / 10_000
                bid = (ref * (1 - away)).quantize(rules.price_quantum, ROUND_DOWN)
                ask = (ref * (1 + away)).quantize(rules.price_quantum, ROUND_CEILING)
                self._submit(HELPER_ACCOUNT, "buy", bid, size, PAIR)
                self._submit(HELPER_ACCOUNT, "sell", ask, size, PAIR)
        for spec in self.setup.get("external_orders", ()):
            side = str(spec["side"]).lower()
            price, qty = Decimal(str(spec["price"])), Decimal(str(spec["quantity"]))
            pair = str(spec.get("pair", PAIR))
            self.external_ids.add(self._submit(self.account, side, price, qty, pair))
        if self.external_ids:
            self.notes.append(f"setup: {len(self.external_ids)} external orders")

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        self._start_mock()
        self._write_config()
        plan = self._fault_plan()
        (self.workdir / "faults.json").write_text(json.dumps(plan, default=str), "utf-8")
        self._prepare_venue()
        if self.setup.get("bad_secret"):
            return self._bad_secret()
        self._load_faults(plan)
        self.start_ms = _now_ms()
        self._start_bot()
        self._drive()
        self._final()
        return self._result()

    def _load_faults(self, plan: Mapping[str, Any]) -> None:
        answer = self.admin.put("/__admin/faults", content=json.dumps(plan, default=str))
        if answer.status_code != 200:
            raise RuntimeError(f"fault plan refused: {answer.status_code} {answer.text}")

    def _bad_secret(self) -> RunResult:
        self.start_ms = _now_ms()
        proc = self._start_bot()
        try:
            code = proc.process.wait(timeout=STARTUP_S)
        except subprocess.TimeoutExpired:
            code = _stop(proc.process, signal.SIGKILL, 10)
            self.notes.append("bad secret: the bot did not refuse to start; killed")
        proc.log.close()
        self.bot = None
        if code == 2:
            self.notes.append("the bot refused to start (exit 2)")
        else:
            self.notes.append(f"bad secret: the bot exited {code}, not 2")
            raise RuntimeError(f"bad secret: the bot exited {code}, not 2 (it must refuse)")
        return self._result(books=False)

    def _drive(self) -> None:
        """The run's wall-clock time: crash points, restarts, unexpected deaths."""
        scaled = tuple(
            dataclasses.replace(p, at_s=p.at_s * self.scale) if p.at_s is not None else p
            for p in self.scenario.crashes
        )
        crashes = _Crashes(scaled)
        start = time.monotonic()
        end = start + self.scenario.duration_s * self.scale
        restart_at: float | None = None
        baseline = self._event_count(crashes)
        while (now := time.monotonic()) < end:
            elapsed_ms = int((now - start) * 1000)
            proc = self.bot
            if proc is not None and proc.process.poll() is not None:
                code = proc.process.returncode
                self._kill_bot(f"the bot exited by itself ({code})")
                restart_at = now + 1.0
            elif proc is not None and (point := crashes.due(elapsed_ms)) is not None:
                self._kill_bot(f"crash (SIGKILL) at {point.at_s:g} s")
                restart_at = now + point.restart_after_s
            elif proc is not None and crashes.events:
                count = self._event_count(crashes)
                if count is not None and baseline is not None:
                    fired = self._event_fired(crashes, count - baseline)
                    if fired is not None:
                        self._kill_bot(f"crash (SIGKILL) {fired.event} (polled)")
                        restart_at = now + fired.restart_after_s
                        baseline = self._event_count(crashes)
                elif baseline is None:
                    baseline = count
            if self.bot is None and restart_at is not None and now >= restart_at:
                self._start_bot()
                restart_at = None
            time.sleep(POLL_S if crashes.events else 0.1)
        crashes.armed = False

    @staticmethod
    def _event_fired(crashes: _Crashes, seen: int) -> CrashPoint | None:
        point = crashes.events[0]
        if seen < point.nth:
            return None
        crashes.events.pop(0)
        crashes.fired = point
        return point

    def _event_count(self, crashes: _Crashes) -> int | None:
        """How often the next event point's event has been seen so far (None: not yet)."""
        if not crashes.events:
            return None
        event = crashes.events[0].event
        try:
            if event == "after_intent_commit":
                path = self.workdir / "bot.db"
                if not path.exists():
                    return 0
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                    return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])
            answer = self.admin.get(
                "/__admin/journal", params={"kind": "order_accepted", "limit": 100_000}
            )
            entries = answer.json()["entries"]
            return sum(
                1
                for e in entries
                if e.get("account") == self.account.key
                and e.get("order_id") not in self.external_ids
            )
        except (sqlite3.Error, httpx2.HTTPError, ValueError, KeyError):
            return None

    def _final(self) -> None:
        """Lift the faults, bring the bot back if down, stop it, reconcile until settled."""
        self.admin.put("/__admin/faults", content=b"{}")
        if self.bot is None:
            self._start_bot()
            self.notes.append("final: the bot was down; restarted for the final stop")
        time.sleep(max(1.0, 2 * self.scenario.tick_ms / 1000))  # steps with faults lifted
        proc = self.bot
        assert proc is not None
        if proc.process.poll() is not None:
            self.notes.append(f"final: the bot had exited ({proc.process.returncode})")
        code = _stop(proc.process, signal.SIGTERM, STOP_S)
        proc.log.close()
        self.bot = None
        if code != 0:
            self.notes.append(f"final: the bot exited {code} on SIGTERM, not 0")
        self.stop_code = code
        for passes in range(1, 5):
            before = self._venue_fingerprint()
            self._reconcile(passes)
            if self._venue_fingerprint() == before:
                self.notes.append(f"final reconcile: venue steady after {passes} passes")
                break
        else:
            self.notes.append("final reconcile: the venue kept moving (market on)")

    def _venue_fingerprint(self) -> Any:
        orders = self._admin_json("/__admin/orders", {"account": self.account.key})["orders"]
        fills = self._admin_json("/__admin/fills", {"account": self.account.key})["fills"]
        return (
            sorted((o["id"], o["status"], o["left"]) for o in orders),
            sorted(f["tradeId"] for f in fills),
        )

    def _reconcile(self, number: int) -> None:
        path = self.workdir / f"reconcile-{number}.log"
        with path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and modules)
                [sys.executable, "-m", "bot.cli", "reconcile", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._bot_env(),
                cwd=self.workdir,
                start_new_session=True,
            )
            try:
                code = process.wait(timeout=RECONCILE_S)
            except subprocess.TimeoutExpired:
                code = _stop(process, signal.SIGKILL, 10)
        if code != 0:
            self.notes.append(f"final reconcile {number} exited {code}")

    def _admin_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        answer = self.admin.get(path, params=dict(params or {}))
        answer.raise_for_status()
        return answer.json()

    # -- the result -------------------------------------------------------------------------

    def _log_lines(self) -> list[str]:
        lines: list[str] = []
        paths = sorted(self.workdir.glob("bot-*.log"), key=lambda p: int(p.stem.split("-")[1]))
        paths += sorted(self.workdir.glob("reconcile-*.log"))
        for path in paths:
            lines += [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        return lines

    def _mode_history(self, lines: list[str]) -> list[dict[str, Any]]:
        history: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = json.loads(line)
                match = _MODE_LINE.match(str(record.get("msg", "")))
                if match is None:
                    continue
                at = datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
                reasons = ast.literal_eval(match.group(3))
            except (ValueError, KeyError, TypeError, SyntaxError, AttributeError):
                continue
            history.append(
                {
                    "at_ms": int(at.timestamp() * 1000),
                    "mode": match.group(2),
                    "previous": match.group(1),
                    "reasons": [str(r) for r in reasons],
                }
            )
        for death in self.deaths:
            history.append(
                {
                    "at_ms": death["at_ms"],
                    "mode": "observe",
                    "previous": None,
                    "reasons": [f"down: {death['why']}"],
                    "start": death["start"],
                }
            )
        history.sort(key=lambda e: e["at_ms"])
        return history

    def _rate_limit_blocks(self, lines: list[str], journal: list[dict[str, Any]]) -> int:
        logged = sum(1 for line in lines if _RATE_LIMITED.search(line))
        injected = sum(
            1 for e in journal if e.get("kind") == "fault_fired" and e.get("fault") == "http_429"
        )
        return max(0, logged - injected)

    async def _books(
        self,
    ) -> tuple[list[Any], list[Any], dict[str, str], dict[str, str], list[str]]:
        store = await Store.open(f"sqlite+aiosqlite:///{self.workdir / 'bot.db'}")
        try:
            rows = [_plain(row) for row in await store.orders()]
            rows.sort(key=lambda row: (row["created_ms"], row["client_id"]))
            fills = await store.fills()
        finally:
            await store.close()
        portfolio = Portfolio()
        for fill in fills:
            portfolio.apply_fill(fill)
        expected = portfolio.expected_balances(self.account.balances)
        balances = {a: format(v, "f") for a, v in sorted(expected.items())}
        positions = {
            pair: format(p.quantity, "f") for pair, p in sorted(portfolio.positions.items())
        }
        budget = int(sim_settings(self.scenario, self.workdir)["lifecycle"]["visibility_budget_ms"])
        now = _now_ms()
        unknown = [
            str(r["client_id"])
            for r in rows
            if r["state"] == "unknown"
            and r.get("unknown_since_ms") is not None
            and now - int(r["unknown_since_ms"]) > budget
        ]
        fill_rows = [_plain(dataclasses.asdict(f)) for f in fills]
        return rows, fill_rows, balances, positions, unknown

    def _result(self, books: bool = True) -> RunResult:
        key = self.account.key
        journal = self._admin_json("/__admin/journal", {"limit": 100_000})["entries"]
        orders = self._admin_json("/__admin/orders", {"account": key})["orders"]
        fills = self._admin_json("/__admin/fills", {"account": key})["fills"]
        all_balances = self._admin_json("/__admin/balances")["balances"]
        balances = {a: dict(b) for a, b in sorted(all_balances.get(key, {}).items())}
        bot_orders: list[Any] = []
        bot_fills: list[Any] = []
        bot_balances: dict[str, str] = {}
        positions: dict[str, str] = {}
        unknown: list[str] = []
        if books and (self.workdir / "bot.db").exists():
            bot_orders, bot_fills, bot_balances, positions, unknown = asyncio.run(self._books())
        lines = self._log_lines()
        illegal = sum(1 for line in lines if _ILLEGAL.search(line))
        secrets = [BOT_ACCOUNT.secret, _RAW_SECRET.decode("ascii")]
        if self.setup.get("bad_secret"):
            secrets.append(_BAD_SECRET)
        lifecycle = sim_settings(self.scenario, self.workdir)["lifecycle"]
        return RunResult(
            scenario=self.scenario.name,
            seed=self.seed,
            engine="wire",
            canary=self.scenario.canary,
            duration_ms=_now_ms() - self.start_ms,
            journal=journal,
            venue_orders=orders,
            venue_fills=fills,
            venue_balances=balances,
            bot_orders=bot_orders,
            bot_fills=bot_fills,
            bot_balances=bot_balances,
            bot_positions=positions,
            mode_history=self._mode_history(lines),
            illegal_transitions=illegal,
            unknown_past_budget=unknown,
            rate_limit_blocks=self._rate_limit_blocks(lines, journal),
            log_lines=lines,
            secrets=secrets,
            start_ms=self.start_ms,
            notes=list(self.notes),
            expectations=self.scenario.expect_modes,
            visibility_budget_ms=int(lifecycle["visibility_budget_ms"]),
        )
