"""Apply `migrations/` (golang-migrate layout: NNNNNN_name.up.sql / .down.sql and a
one-row `schema_migrations(version, dirty)` table) to PostgreSQL.

Safe when several instances start at once: the whole run holds an advisory lock.
Each migration runs in its own transaction together with the version update.
These are asyncio coroutines (asyncpg); call them through `trichat.aio.run`.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

LOCK_KEY = 7_263_011_842  # any constant: trichat's migration lock
_FILE = re.compile(r"^(\d+)_(\w+)\.(up|down)\.sql$")


class MigrationError(Exception):
    """The migrations folder or the database's migration state is not usable."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: Path
    down: Path | None


def default_directory() -> Path:
    """The repository's migrations/ in a checkout or editable install; else where a
    wheel install puts them (`share/trichat/migrations` under the environment)."""
    checkout = Path(__file__).resolve().parents[3] / "migrations"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "trichat" / "migrations"


def load(directory: Path) -> list[Migration]:
    ups: dict[int, tuple[str, Path]] = {}
    downs: dict[int, Path] = {}
    for path in directory.iterdir():
        match = _FILE.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if match.group(3) == "up":
            ups[version] = (match.group(2), path)
        else:
            downs[version] = path
    if not ups:
        raise MigrationError(f"no migrations in {directory}")
    return [Migration(v, ups[v][0], ups[v][1], downs.get(v)) for v in sorted(ups)]


async def _state(conn: asyncpg.Connection) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
    )
    row = await conn.fetchrow("SELECT version, dirty FROM schema_migrations LIMIT 1")
    if row is None:
        return 0
    if row["dirty"]:
        raise MigrationError(
            f"schema_migrations is dirty at version {row['version']}: fix the database by "
            "hand, then set dirty = false"
        )
    return int(row["version"])


async def _set(conn: asyncpg.Connection, version: int) -> None:
    await conn.execute("DELETE FROM schema_migrations")
    if version:
        await conn.execute(
            "INSERT INTO schema_migrations (version, dirty) VALUES ($1, false)", version
        )


async def migrate_up(dsn: str, directory: Path) -> list[int]:
    """Apply every migration above the current version; returns those applied."""
    migrations = load(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            current = await _state(conn)
            applied = []
            for m in migrations:
                if m.version <= current:
                    continue
                async with conn.transaction():
                    await conn.execute(m.up.read_text())
                    await _set(conn, m.version)
                applied.append(m.version)
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()


async def migrate_down(dsn: str, directory: Path, steps: int = 1) -> list[int]:
    """Revert the newest `steps` applied migrations; returns those reverted."""
    migrations = {m.version: m for m in load(directory)}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            current = await _state(conn)
            reverted = []
            for version in sorted((v for v in migrations if v <= current), reverse=True)[:steps]:
                m = migrations[version]
                if m.down is None:
                    raise MigrationError(f"migration {version} has no down file")
                earlier = [v for v in migrations if v < version]
                async with conn.transaction():
                    await conn.execute(m.down.read_text())
                    await _set(conn, max(earlier, default=0))
                reverted.append(version)
            return reverted
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()


async def current_version(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await _state(conn)
    finally:
        await conn.close()
