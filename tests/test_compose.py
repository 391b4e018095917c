"""docker-compose.yml and the Dockerfile against the project's real entry points and settings.

No container engine runs here: the file is loaded and every service's command is parsed by
the program's own argparse parser, its ports, environment and configs are checked against
the options and ``bot.settings``, so the deployment cannot drift from the code unnoticed.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml")  # PyYAML, from the dev extra

from benchmarks.load import ACCOUNTS, account  # noqa: E402
from bot import cli as bot_cli  # noqa: E402
from bot.settings import ENV_API_KEY, ENV_API_SECRET, load_settings  # noqa: E402
from chaos import cli as chaos_cli  # noqa: E402
from mock_exchange import cli as mock_cli  # noqa: E402
from mock_exchange.accounts import parse_accounts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]
PARSERS = {
    "mock-exchange": mock_cli.build_parser,
    "btcbot": bot_cli.build_parser,
    "chaos": chaos_cli.build_parser,
}
EXPECTED = {"mock", "bot", "postgres", "chaos", "locust-master", "locust-worker"}
LOCUST_MASTER_PORT = 5557  # locust's default --master-bind-port / --master-port


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def command(service: dict[str, Any]) -> list[str]:
    cmd = service["command"]
    assert isinstance(cmd, list), "write commands in exec form (a list), no shell"
    assert all(isinstance(part, str) for part in cmd), f"quote every argument: {cmd}"
    return list(cmd)


def strict(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser and its subcommands without prefix matching: an option must be spelt out."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                strict(sub)
    return parser


def parsed(service: dict[str, Any]) -> argparse.Namespace:
    program, *argv = command(service)
    return strict(PARSERS[program]()).parse_args(argv)


def config_text(compose: dict[str, Any], service: dict[str, Any], target: str) -> str:
    for entry in service.get("configs", []):
        if entry["target"] == target:
            return str(compose["configs"][entry["source"]]["content"])
    raise AssertionError(f"no config mounted at {target}")


def container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        assert len(parts) == 3 and parts[0] == "127.0.0.1", f"publish on loopback: {spec}"
        ports.add(int(parts[2]))
    return ports


def test_services_are_the_testbed(services: dict[str, Any]) -> None:
    assert set(services) == EXPECTED


def test_every_program_is_a_real_entry_point(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name == "postgres":
            assert "command" not in service
            continue
        program = command(service)[0]
        assert program in SCRIPTS or program == "locust", f"{name}: unknown program {program}"
        if program in SCRIPTS:
            module = SCRIPTS[program].split(":")[0]
            assert PARSERS[program].__module__ == module


def test_project_commands_parse(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "command" in service and command(service)[0] in PARSERS:
            try:
                parsed(service)
            except SystemExit:
                pytest.fail(f"{name}: {command(service)} is refused by its parser")


def test_depends_on_configs_and_volumes_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for dep in service.get("depends_on", []):
            assert dep in services and dep != name, f"{name} depends on unknown {dep}"
        for entry in service.get("configs", []):
            assert entry["source"] in compose["configs"], f"{name}: config {entry['source']}"
        for mount in service.get("volumes", []):
            source = str(mount).split(":")[0]
            assert source in volumes, f"{name}: volume {source} is not declared"


def test_mock_serves_on_its_published_port(compose: dict[str, Any]) -> None:
    mock = compose["services"]["mock"]
    args = parsed(mock)
    assert args.command == "serve"
    assert args.host == "0.0.0.0"
    assert container_ports(mock) == {args.port}
    assert args.accounts is not None
    accounts = parse_accounts(tomllib.loads(config_text(compose, mock, str(args.accounts))))
    by_key = {a.key: a.secret for a in accounts}
    for index in range(ACCOUNTS):  # the locustfile signs with these
        key, secret = account(index)
        assert by_key.get(key) == secret
    # The healthcheck probes the port the mock serves on.
    probe = " ".join(mock["healthcheck"]["test"])
    assert f"127.0.0.1:{args.port}/" in probe


def test_bot_runs_against_the_mock_with_postgres(compose: dict[str, Any], tmp_path: Path) -> None:
    services = compose["services"]
    bot = services["bot"]
    args = parsed(bot)
    assert args.command == "run"
    env = {k: str(v) for k, v in bot["environment"].items()}
    assert set(env) == {ENV_API_KEY, ENV_API_SECRET}
    config = tmp_path / "btcbot.toml"
    config.write_text(config_text(compose, bot, str(args.config)))
    settings = load_settings(config, env)
    # The keys are an account of the mock.
    mock = services["mock"]
    mock_args = parsed(mock)
    accounts = parse_accounts(tomllib.loads(config_text(compose, mock, str(mock_args.accounts))))
    assert (env[ENV_API_KEY], env[ENV_API_SECRET]) in {(a.key, a.secret) for a in accounts}
    # Pointed at the mock service, on the port it serves.
    assert not settings.targets_real_venue and not settings.needs_certificate
    for url in (settings.venue.rest_url, settings.venue.ws_url):
        parts = urlsplit(url)
        assert (parts.hostname, parts.port) == ("mock", mock_args.port)
    # The store is the postgres service, with its user, password and database.
    pg = services["postgres"]
    assert str(pg["image"]).startswith("postgres:")
    pg_env = pg["environment"]
    store = urlsplit(settings.store.url)
    assert store.scheme == "postgresql+asyncpg"
    assert store.hostname == "postgres" and (store.port or 5432) == 5432
    assert store.username == pg_env["POSTGRES_USER"]
    assert store.password == pg_env["POSTGRES_PASSWORD"]
    assert store.path.lstrip("/") == pg_env["POSTGRES_DB"]
    # Metrics listen on the published port, on every interface of the container.
    assert settings.metrics.enabled and settings.metrics.host == "0.0.0.0"
    assert container_ports(bot) == {settings.metrics.port}
    assert {"mock", "postgres"} <= set(bot["depends_on"])


def test_chaos_writes_to_a_volume(compose: dict[str, Any]) -> None:
    chaos = compose["services"]["chaos"]
    args = parsed(chaos)
    assert args.command in ("run", "gate")
    targets = {str(m).split(":")[1] for m in chaos.get("volumes", [])}
    assert str(args.report_dir) in targets


def locust_classes() -> set[str]:
    tree = ast.parse((ROOT / "benchmarks" / "locustfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and not node.name.startswith("_")
        and any(isinstance(b, ast.Name) and b.id in ("_Signed", "HttpUser") for b in node.bases)
    }


def test_locust_master_and_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    master, worker = services["locust-master"], services["locust-worker"]
    mock_port = parsed(services["mock"]).port
    m, w = command(master), command(worker)
    for cmd in (m, w):
        assert cmd[:3] == ["locust", "-f", "benchmarks/locustfile.py"]
        assert (ROOT / cmd[2]).is_file()
    assert "--master" in m and "--worker" in w
    # Workers reach the master's service on the port it binds, which it exposes.
    bind = int(m[m.index("--master-bind-port") + 1]) if "--master-bind-port" in m else 5557
    assert w[w.index("--master-host") + 1] == "locust-master"
    port = int(w[w.index("--master-port") + 1]) if "--master-port" in w else 5557
    assert port == bind == LOCUST_MASTER_PORT
    assert {int(p) for p in master.get("expose", [])} == {bind}
    # The target is the mock service, which the locustfile allows only when told to.
    host = urlsplit(m[m.index("--host") + 1])
    assert (host.hostname, host.port) == ("mock", mock_port)
    for service in (master, worker):
        assert "mock" in str(service["environment"]["LOAD_ALLOWED_HOSTS"]).split(",")
    # The user classes named exist in the locustfile.
    named = [a for a in m[3:] if not a.startswith("-") and a[0].isupper()]
    assert named and set(named) <= locust_classes()
    expected = int(m[m.index("--expect-workers") + 1])
    assert worker["deploy"]["replicas"] == expected


@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="the load extra")
def test_locust_accepts_the_options(compose: dict[str, Any]) -> None:
    """locust's own parser, in a subprocess (locust monkey-patches the stdlib on import)."""
    argvs = [command(compose["services"][n])[1:] for n in ("locust-master", "locust-worker")]
    script = (
        "import json, sys\n"
        "from locust.argument_parser import parse_options\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    parse_options(args=argv)\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr


def test_dockerfile_installs_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[[line.startswith("#") for line in lines].index(False)] == ("FROM python:3.11-slim")
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "uv pip install" in text and "'.[dev,load]'" in text
    assert {"dev", "load"} <= set(extras)
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    packages = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    for package in [*packages, "benchmarks"]:
        assert f"COPY {package} ./{package}" in text
