"""Locust user classes against the mock venue; run through ``python -m benchmarks.load``.

Rate limits (mock started with ``--rate-limits on``), each class above one limit of the
venue's table (``mock_exchange.ratelimit.DEFAULT_RULES``):

* ``BalancesPerIP``: signed ``GET /api/v1/users/balances`` at 30/s from its own source IP
  (the limit is 120 per minute per IP, block 60 s).
* ``OrdersPerKey``: ``POST /api/v1/order`` at 6/s per user, every user on its own IP but
  all with one key: the key goes above 10 per second (block 1 s), no IP does.
* ``OrdersPerIP``: ``POST /api/v1/order`` at 6/s per user, every user with its own key but
  all from one IP: the IP goes above 10 per second, no key does.

Every 429 must carry the venue's body (message TOO_MANY_REQUESTS, code 429, success false,
limit and period of a rule of that endpoint, policy ip or account) and a ``Retry-After``
between 1 and the rule's block in seconds; anything else is a locust failure and is
counted in the tally's ``bad_429``. The observed block (first 429 to the next 200, per
subject, from send time to send time) is tallied per rule, as
``"<name> <limit>/<period>"``.

Throughput (mock started with ``--rate-limits off``):

* ``SignedOrderPairs``: a signed limit buy that rests, then its signed cancel, no pause.

Per-IP subjects: when the target is loopback each user binds its own source address in
127.0.0.0/8 (the destination stays 127.0.0.1). Against another host (docker compose's
``mock``) users share their machine's address. Traffic goes to loopback only, unless the
host is named in ``LOAD_ALLOWED_HOSTS`` (comma separated; compose sets ``mock``); the real
venue is refused always.

The tally (status codes per request name, 429 policies, Retry-After range, block
durations, malformed 429s) is merged from workers in distributed mode and written by the
master (or the local runner) to ``$LOAD_TALLY`` when locust quits.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from locust import HttpUser, constant, constant_throughput, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner
from requests.adapters import HTTPAdapter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.load import account
from mock_exchange.auth import sign
from mock_exchange.ratelimit import DEFAULT_RULES, RateRule, endpoint_of

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ORDER = {
    "quantity": "0.001",
    "price": "3000000",
    "orderMethod": "limit",
    "orderType": "buy",
    "pairSymbol": "BTCTRY",
}
BALANCES = "/api/v1/users/balances"
ORDER_PATH = "/api/v1/order"

_lock = threading.Lock()
_ips = itertools.count(10)
_ids = itertools.count(1)


def _empty() -> dict[str, Any]:
    return {
        "status": {},
        "policies": {},
        "retry_after": {},
        "blocks_ms": {},
        "bad_429": {},
        "expect": {},
        "subjects": {},
    }


TALLY: dict[str, Any] = _empty()
# name -> subject -> (when the first 429 of the current block was sent, its limit/period)
_BLOCKED: dict[str, dict[str, tuple[float, str]]] = {}


def _count(table: dict[str, Any], name: str, key: str, n: int = 1) -> None:
    per = table.setdefault(name, {})
    per[key] = per.get(key, 0) + n


def merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Add one worker's tally (since its last report) into the master's."""
    for table in ("status", "policies"):
        for name, per in part.get(table, {}).items():
            for key, n in per.items():
                _count(into[table], name, key, n)
    for name, n in part.get("bad_429", {}).items():
        into["bad_429"][name] = into["bad_429"].get(name, 0) + n
    for name, (low, high) in part.get("retry_after", {}).items():
        old = into["retry_after"].get(name)
        into["retry_after"][name] = (
            [low, high] if old is None else [min(old[0], low), max(old[1], high)]
        )
    for name, values in part.get("blocks_ms", {}).items():
        into["blocks_ms"].setdefault(name, []).extend(values)
    for name, values in part.get("subjects", {}).items():
        into["subjects"][name] = sorted(set(into["subjects"].get(name, [])) | set(values))
    into["expect"].update(part.get("expect", {}))


def allowed_host(host: str | None) -> bool:
    name = (urlsplit(host or "").hostname or "").lower()
    extra = {h.strip().lower() for h in os.environ.get("LOAD_ALLOWED_HOSTS", "").split(",")}
    if name == "btcturk.com" or name.endswith(".btcturk.com"):
        return False
    return name in LOOPBACK or (bool(name) and name in extra)


def _on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    host = environment.host or (options.host if options is not None else None)
    if host and not allowed_host(host):
        logging.error("load: refusing to send traffic to %s (loopback only)", host)
        sys.exit(2)
    if isinstance(environment.runner, WorkerRunner):

        def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
            global TALLY
            with _lock:
                data["load_tally"], TALLY = TALLY, _empty()

        events.report_to_master.add_listener(_report)  # type: ignore[no-untyped-call]
    else:

        def _collect(client_id: str, data: dict[str, Any], **_: Any) -> None:
            with _lock:
                merge(TALLY, data.get("load_tally", {}))

        events.worker_report.add_listener(_collect)  # type: ignore[no-untyped-call]


def _on_request(name: str, response: Any = None, exception: Any = None, **_: Any) -> None:
    code = getattr(response, "status_code", None)
    key = str(code) if code else ("error" if exception is not None else "none")
    with _lock:
        _count(TALLY["status"], name, key)


def _on_quit(environment: Environment, **_: Any) -> None:
    path = os.environ.get("LOAD_TALLY")
    if path and not isinstance(environment.runner, WorkerRunner):
        with _lock:
            Path(path).write_text(json.dumps(TALLY, indent=2, sort_keys=True))


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.request.add_listener(_on_request)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quit)  # type: ignore[no-untyped-call]


class _SourceAddress(HTTPAdapter):
    """Connections from one given local address (any of 127.0.0.0/8 reaches 127.0.0.1)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def _rules(method: str, path: str) -> list[RateRule]:
    endpoint = endpoint_of(path)
    return [r for r in DEFAULT_RULES if r.method == method and r.endpoint == endpoint]


def problem_with_429(method: str, path: str, body: Any, retry_after: str | None) -> str | None:
    """Why this 429 is not the venue's, or None."""
    rules = _rules(method, path)
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("message") != "TOO_MANY_REQUESTS" or body.get("code") != 429:
        return f"message/code {body.get('message')!r}/{body.get('code')!r}"
    if body.get("success") is not False:
        return "success is not false"
    matching = [
        r
        for r in rules
        if body.get("limit") == str(r.limit)
        and body.get("period") == r.period_text
        and body.get("policy") in r.policies
    ]
    if not matching:
        return (
            f"limit/period/policy {body.get('limit')}/{body.get('period')}/"
            f"{body.get('policy')} is no rule of {method} {path}"
        )
    try:
        seconds = int(retry_after or "")
    except ValueError:
        return f"Retry-After {retry_after!r} is not whole seconds"
    block_s = max(-(-r.block_ms // 1000) for r in matching)
    if not 1 <= seconds <= block_s:
        return f"Retry-After {seconds} outside 1..{block_s}"
    return None


class _Signed(HttpUser):
    abstract = True
    wait_time = constant(0)
    key_index = 0
    ip: str | None = None  # a fixed source address; None: one per user (loopback only)

    def on_start(self) -> None:
        if not allowed_host(self.host):
            raise StopUser()
        self.key, secret = account(self.account_index())
        import base64

        self.secret = base64.b64decode(secret)
        loopback = (urlsplit(self.host or "").hostname or "") in LOOPBACK
        if loopback:
            address = self.ip or f"127.0.0.{next(_ips)}"
            self.client.mount("http://", _SourceAddress(address))
            self.subject_ip = address
        else:
            self.subject_ip = "host"

    def account_index(self) -> int:
        return self.key_index

    def headers(self, body: bool = True) -> dict[str, str]:
        stamp = str(time.time_ns() // 1_000_000)
        headers = {
            "X-PCK": self.key,
            "X-Stamp": stamp,
            "X-Signature": sign(self.key, self.secret, stamp),
        }
        if body:
            headers["Content-Type"] = "application/json"
        return headers

    def expect(self, name: str, method: str, path: str, policy: str, subject: str) -> None:
        with _lock:
            TALLY["expect"][name] = {"method": method, "path": path, "policy": policy}
            subjects = TALLY["subjects"].setdefault(name, [])
            if subject not in subjects:
                subjects.append(subject)

    def limited(self, name: str, method: str, path: str, subject: str, **kwargs: Any) -> None:
        """One request that may earn a 429; checks the 429 and tallies the block."""
        sent = time.monotonic()
        with self.client.request(method, path, name=name, catch_response=True, **kwargs) as r:
            if r.status_code == 429:
                try:
                    body = r.json()
                except ValueError:
                    body = None
                retry_after = r.headers.get("Retry-After")
                problem = problem_with_429(method, path, body, retry_after)
                with _lock:
                    if problem is not None:
                        TALLY["bad_429"][name] = TALLY["bad_429"].get(name, 0) + 1
                        r.failure(f"bad 429: {problem}")
                        return
                    _count(TALLY["policies"], name, str(body["policy"]))
                    seconds = int(retry_after or 0)
                    low, high = TALLY["retry_after"].get(name, [seconds, seconds])
                    TALLY["retry_after"][name] = [min(low, seconds), max(high, seconds)]
                    rule = f"{body['limit']}/{body['period']}"
                    _BLOCKED.setdefault(name, {}).setdefault(subject, (sent, rule))
                r.success()
            elif r.status_code == 200:
                with _lock:
                    blocked = _BLOCKED.get(name, {}).get(subject)
                    # Sent after the first 429 of the block was: the block had ended.
                    if blocked is not None and sent > blocked[0]:
                        del _BLOCKED[name][subject]
                        ms = round((sent - blocked[0]) * 1000)
                        TALLY["blocks_ms"].setdefault(f"{name} {blocked[1]}", []).append(ms)
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")

    def place(self, name: str, subject: str) -> None:
        body = json.dumps({**ORDER, "newOrderClientId": f"load-{next(_ids)}-{time.time_ns()}"})
        self.limited(name, "POST", ORDER_PATH, subject, data=body, headers=self.headers())


class BalancesPerIP(_Signed):
    """Above 120 per minute per IP: every user its own IP."""

    wait_time = constant_throughput(30)
    key_index = 0
    label = f"GET {BALANCES} [per ip]"

    @task
    def balances(self) -> None:
        self.expect(self.label, "GET", BALANCES, "ip", self.subject_ip)
        self.limited(self.label, "GET", BALANCES, self.subject_ip, headers=self.headers(body=False))


class OrdersPerKey(_Signed):
    """Above 10 orders per second on one key, from IPs each below it."""

    fixed_count = 2
    wait_time = constant_throughput(6)
    key_index = 1
    label = f"POST {ORDER_PATH} [per key]"

    @task
    def order(self) -> None:
        subject = f"key:{self.key}"
        self.expect(self.label, "POST", ORDER_PATH, "account", subject)
        self.place(self.label, subject)


_per_ip_keys = itertools.count(2)


class OrdersPerIP(_Signed):
    """Above 10 orders per second from one IP, on keys each below it."""

    fixed_count = 2
    wait_time = constant_throughput(6)
    ip = "127.0.0.5"
    label = f"POST {ORDER_PATH} [per ip]"

    def account_index(self) -> int:
        return 2 + (next(_per_ip_keys) - 2) % 2  # accounts 2 and 3

    @task
    def order(self) -> None:
        subject = f"ip:{self.subject_ip}"
        self.expect(self.label, "POST", ORDER_PATH, "ip", subject)
        self.place(self.label, subject)


_pair_keys = itertools.count(0)


class SignedOrderPairs(_Signed):
    """Throughput with the rate limits off: a resting order, then its cancel."""

    wait_time = constant(0)

    def account_index(self) -> int:
        return 4 + next(_pair_keys) % 4  # accounts 4..7

    def on_start(self) -> None:
        super().on_start()
        self.client.mount("http://", HTTPAdapter())  # one address suffices: no limits

    @task
    def pair(self) -> None:
        body = json.dumps({**ORDER, "newOrderClientId": f"pair-{next(_ids)}-{time.time_ns()}"})
        name = f"POST {ORDER_PATH}"
        with self.client.post(
            ORDER_PATH, data=body, headers=self.headers(), name=name, catch_response=True
        ) as r:
            order_id = None
            try:
                payload = r.json()
                order_id = payload["data"]["id"] if payload.get("success") else None
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
            if r.status_code != 200 or not isinstance(order_id, int):
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
                return
        with self.client.delete(
            f"{ORDER_PATH}?id={order_id}",
            headers=self.headers(body=False),
            name=f"DELETE {ORDER_PATH}",
            catch_response=True,
        ) as r:
            try:
                ok = r.status_code == 200 and r.json().get("success") is True
            except ValueError:
                ok = False
            if not ok:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
