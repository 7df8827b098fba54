"""The layering of docs/architecture.md, checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[2] / "src" / "trichat"


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules(pattern: str) -> list[Path]:
    found = sorted(SRC.glob(pattern))
    assert found, pattern
    return found


def test_protocol_is_sans_io() -> None:
    for path in modules("protocol/*.py"):
        bad = {n for n in imports(path) if n.split(".")[0] in {"trio", "trio_asyncio", "socket"}}
        assert not bad, f"{path.name} imports {bad}"


def test_protocol_and_records_do_not_import_the_seams() -> None:
    """Layers 0 and 1 (records, sans-IO protocol, auth) sit under the store and the
    broker: a channel's state consumes the broker's events, defined down here."""
    for pattern in ("protocol/*.py", "config.py", "models.py", "errors.py", "auth.py"):
        for path in modules(pattern):
            bad = {n for n in imports(path) if n.startswith(("trichat.store", "trichat.broker"))}
            assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_lower_layers_do_not_import_higher_ones() -> None:
    higher = {
        "trichat.hub",
        "trichat.connection",
        "trichat.connection_catchup",
        "trichat.connection_deps",
        "trichat.connection_dispatch",
        "trichat.connection_liveness",
        "trichat.transport",
        "trichat.outbox",
        "trichat.sessions",
        "trichat.service",
        "trichat.frontdoor",
        "trichat.server",
        "trichat.cli",
        "trichat.web",
    }
    for pattern in (
        "protocol/*.py",
        "store/*.py",
        "broker/*.py",
        "config.py",
        "models.py",
        "errors.py",
        "auth.py",
    ):
        for path in modules(pattern):
            bad = {n for n in imports(path) if any(n == h or n.startswith(h + ".") for h in higher)}
            assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_drivers_stay_in_their_modules() -> None:
    owners = {
        "trio_asyncio": {"aio.py"},
        # the one client the Redis implementations share, and the broker's trio-side
        # connections (redis-py's URL parsing and exceptions; hiredis packs the
        # conveyor's commands and parses the replies, and packs the shared client's)
        "redis": {"broker/redis_link.py", "broker/redis_resp.py", "broker/redis_packing.py"},
        "hiredis": {
            "broker/redis_resp.py",
            "broker/redis_conveyor.py",
            "broker/redis_packing.py",
        },
        "asyncpg": {
            "store/postgres.py",
            "store/pg_pool.py",
            "store/pg_migrate.py",
            "store/pg_log.py",
            "store/pg_reads.py",
        },
        "sqlite3": {"store/sqlite.py", "store/sqlite_seqs.py", "store/sqlite_upgrade.py"},
        "hypercorn": {"hyper.py", "server.py"},
    }
    for path in SRC.rglob("*.py"):
        rel = str(path.relative_to(SRC))
        for name in imports(path):
            owner = owners.get(name.split(".")[0])
            assert owner is None or rel in owner, f"{rel} imports {name}"


def test_the_doors_reach_the_store_and_broker_only_through_the_service() -> None:
    doors = modules("web/**/*.py") + modules("connection*.py") + modules("frontdoor.py")
    assert any(p.parent.name == "routes" for p in doors)  # the resource modules are checked
    for path in doors:
        tree = ast.parse(path.read_text())
        bad = {n for n in imports(path) if n.startswith(("trichat.store", "trichat.broker"))}
        bad |= {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr in {"store", "broker", "presence", "limits"}
        }
        assert not bad, f"{path.relative_to(SRC)} reaches {bad}"


def test_frames_are_built_above_the_broker() -> None:
    """Presence frames (a killed instance's users leaving, too) are the service's."""
    for path in modules("broker/*.py"):
        bad = {n for n in imports(path) if n.startswith("trichat.protocol.frames")}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"
