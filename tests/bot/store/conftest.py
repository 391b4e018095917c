"""Store fixtures: one throwaway PostgreSQL cluster per test session (per xdist worker), and
``store_url`` / ``store`` parametrised over SQLite and PostgreSQL.

The cluster lives in its own temporary directory on a free loopback port, with ``fsync``
off (it is thrown away), and is stopped at the end of the session even when tests fail.
Without PostgreSQL's binaries or the asyncpg driver the PostgreSQL cases skip and say why;
binaries that are there but fail to start a cluster fail the run with the server's log.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import importlib.util
import itertools
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.store.repository import Store
from tests.conftest import free_port

BACKENDS = ["sqlite", "postgresql"]


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else ``PATH``."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return candidate
    return None


def why_no_postgres() -> str | None:
    if importlib.util.find_spec("asyncpg") is None:
        return "the asyncpg driver is not installed"
    if find_pg_bin() is None:
        return "PostgreSQL binaries (initdb, pg_ctl, psql) not found in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


@dataclass
class PgCluster:
    bin: Path
    root: Path
    user: str  # the cluster's superuser
    as_user: list[str]  # prefix that runs a server command as the cluster's owner
    port: int = 0
    _names: Iterator[int] = field(default_factory=itertools.count)
    _running: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, user: str | None = None) -> str:
        return f"postgresql+asyncpg://{user or self.user}@127.0.0.1:{self.port}/{database}"

    def fresh_store_url(self) -> str:
        """The URL of an empty place for a store: a new ordinary role with its own schema.

        PostgreSQL's default ``search_path`` starts with ``"$user"``, so the role's tables
        land in its schema: as isolated as a new database, at a tenth of the cost (a
        ``CREATE DATABASE`` copies a template), and the store runs without superuser
        rights, as a bot would."""
        name = f"store_{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE ROLE {name} LOGIN; CREATE SCHEMA {name} AUTHORIZATION {name};")
        return self.url("postgres", user=name)

    def psql(self, sql: str) -> str:
        done = subprocess.run(
            [
                *(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port)),
                *("-U", self.user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"psql {sql!r} failed: {done.stderr.strip()}")
        return done.stdout

    def _run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        done = self._run(
            self.bin / "initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            self.user,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        for _ in range(3):  # the free port may be taken between asking and binding
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._run(
                self.bin / "pg_ctl",
                "-D",
                self.data,
                "-l",
                self.log,
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                self._running = True
                return
        log = self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""
        raise RuntimeError(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}")

    def stop(self) -> None:
        """Idempotent: from the fixture's teardown, and again at exit as a backstop."""
        if self._running:
            self._running = False
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def make_cluster() -> PgCluster:
    pg_bin = find_pg_bin()
    assert pg_bin is not None
    root = Path(tempfile.mkdtemp(prefix="bot-store-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        return PgCluster(pg_bin, root, "postgres", ["runuser", "-u", "postgres", "--"])
    return PgCluster(pg_bin, root, getpass.getuser(), [])


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    reason = why_no_postgres()
    if reason:
        pytest.skip(f"PostgreSQL store tests skipped: {reason}")
    cluster = make_cluster()
    atexit.register(cluster.stop)
    try:
        cluster.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        pytest.fail(f"a throwaway PostgreSQL cluster could not start: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
        with contextlib.suppress(Exception):
            atexit.unregister(cluster.stop)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a fresh, empty store: a SQLite file in ``tmp_path``, or a new schema on the
    session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'bot.db'}"
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    return cluster.fresh_store_url()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url)
    try:
        yield opened
    finally:
        await opened.close()
