"""SQLite's files failing under a running `trichat run` (issue 14, item 7).

`chattr +i` makes a file immutable, as a failing disk or a read-only remount would
make it unwritable. With `trichat.db-shm` immutable the server died of SIGBUS with
no log line; with `trichat.db-wal` immutable writes failed but `/health` said
`store: ok`. Now: the store refuses (503 / `unavailable`), `/health` says the store
is down, the process lives and logs it, and everything resumes when the file is
writable again. A real process: a SIGBUS would take pytest down with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.conftest import SECRET
from tests.helpers.client import http, poll_health
from tests.helpers.files import immutable
from tests.helpers.process import TrichatProcess

API = "/api/v1/chat"


async def post(node: TrichatProcess, content: str) -> tuple[int, dict[str, object]]:
    path = f"{API}/channels/{node.general}/messages"
    answer = await http(
        node.port, "POST", path, token=node.token("alice"), body={"content": content}
    )
    return answer.status, answer.json()


@pytest.mark.parametrize("suffix", ["-shm", "-wal"])
async def test_an_unwritable_store_file_is_reported_not_fatal(tmp_path: Path, suffix: str) -> None:
    data = tmp_path / "data"
    node = await trio.to_thread.run_sync(
        lambda: TrichatProcess(tmp_path / "trichat.log", SECRET, TRICHAT_DATA_DIR=str(data))
    )
    try:
        status, first = await post(node, "before")
        assert status == 201 and first["seq"] == 1
        with immutable(data / f"trichat.db{suffix}"):
            status, refused = await post(node, "during")
            assert status == 503 and refused["error"]["code"] == "unavailable"  # type: ignore[index]
            health = await http(node.port, "GET", f"{API}/health")
            assert health.status == 503 and health.json()["store"] == "down"
            await trio.to_thread.run_sync(node.wait_for_log, "the store is down")
            assert node.running
        await poll_health(node.port, lambda h: h["store"] == "ok")
        status, after = await post(node, "after")
        assert status == 201 and after["seq"] == 2  # nothing was stored meanwhile
        await trio.to_thread.run_sync(node.wait_for_log, "the store answers again")
    finally:
        await trio.to_thread.run_sync(node.stop)  # no traceback in its log
