"""Each trichat service of compose.yaml, started as `trichat run` / `trichat migrate`
with the environment compose gives its container. Redis and PostgreSQL at their
compose hostnames do not exist here, so those two URLs are dropped (the SQLite store
in a temporary data dir) and the address is a free loopback port; every other
variable is exactly compose's. `migrate`, and an instance after it, run against the
tests' throwaway PostgreSQL with compose's DATABASE_URL, only its host:port moved."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.helpers import compose as compose_file
from tests.helpers.compose import ROOT
from tests.helpers.pg import PostgresServer
from tests.helpers.process import TrichatProcess
from trichat import __version__

SECRET = "s" * 32
LOCAL = ("DATABASE_URL", "REDIS_URL", "HOST", "PORT", "TRICHAT_DATA_DIR")


def container_env(service: str) -> dict[str, str]:
    services = compose_file.trichat_services(compose_file.load())
    env = compose_file.service_env(services[service], {"TRICHAT_JWT_SECRET": SECRET})
    return {k: v for k, v in env.items() if k not in LOCAL}


def test_each_instance_starts_with_its_compose_environment(tmp_path: Path) -> None:
    for name in ("trichat1", "trichat2"):
        env = container_env(name)
        assert env["TRICHAT_JWT_SECRET"] == SECRET
        data = tmp_path / name
        data.mkdir()
        server = TrichatProcess(
            tmp_path / f"{name}.log", SECRET, HOST="127.0.0.1", TRICHAT_DATA_DIR=str(data), **env
        )
        try:
            with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            assert f'version="{__version__}"' in text and "process_cpu_seconds_total" in text
            with urllib.request.urlopen(f"{server.url}/api/v1/chat/health", timeout=5) as resp:
                assert name in resp.read().decode()
        finally:
            server.stop()


def _on_local_postgres(url: str, pg: PostgresServer) -> str:
    """Compose's DATABASE_URL with only its host:port changed: to the test's server."""
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{pg.port}"))


def _as_compose_postgres(pg: PostgresServer) -> None:
    """The role and database compose's postgres service creates (POSTGRES_USER, …)."""
    env = compose_file.load()["services"]["postgres"]["environment"]
    user, password, db = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    pg.psql(
        f"DO $$ BEGIN CREATE ROLE {user} LOGIN PASSWORD '{password}'; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    pg.psql(f"DROP DATABASE IF EXISTS {db}")
    pg.psql(f"CREATE DATABASE {db} OWNER {user}")


def test_migrate_then_an_instance_with_their_compose_environments(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """`migrate` with its compose environment (its DATABASE_URL: the user, password and
    database compose's postgres service creates) migrates; an instance, with its own
    environment (TRICHAT_MIGRATE_ON_START=0), then serves from that schema."""
    _as_compose_postgres(postgres_server)
    shell = {k: v for k, v in os.environ.items() if not k.startswith("TRICHAT_")}
    for name in LOCAL:
        shell.pop(name, None)
    services = compose_file.trichat_services(compose_file.load())
    migrate_env = compose_file.service_env(services["migrate"], {})
    url = _on_local_postgres(migrate_env["DATABASE_URL"], postgres_server)
    env = {**shell, **container_env("migrate"), "DATABASE_URL": url}
    command = services["migrate"]["command"]
    assert command[0] == "trichat"
    done = subprocess.run(
        [sys.executable, "-m", "trichat", *command[1:]], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    newest = max(int(p.name[:6]) for p in (ROOT / "migrations").glob("*.up.sql"))
    assert done.stdout.strip().endswith(f"schema version now {newest}"), done.stdout
    instance = compose_file.service_env(services["trichat1"], {"TRICHAT_JWT_SECRET": SECRET})
    assert instance["TRICHAT_MIGRATE_ON_START"] == "0"
    assert _on_local_postgres(instance["DATABASE_URL"], postgres_server) == url  # one database
    server = TrichatProcess(
        tmp_path / "trichat1.log",
        SECRET,
        HOST="127.0.0.1",
        TRICHAT_DATA_DIR=str(tmp_path / "data"),
        **{**container_env("trichat1"), "DATABASE_URL": url},
    )
    try:
        with urllib.request.urlopen(f"{server.url}/api/v1/chat/health", timeout=5) as resp:
            assert '"store":"ok"' in resp.read().decode()
    finally:
        server.stop()
    assert "applied migrations" not in server.log.read_text()  # migrate did, once
