"""A v1 `trichat-data/` keeps working: the v2 schema (the channel log) and v3 (read
state) are added in place at start, once, and the v1 messages read as top-level,
unedited messages."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from trichat.store.sqlite import open_sqlite_store
from trichat.store.sqlite_upgrade import VERSION

CID = "00000000-0000-4000-8000-000000000001"


def write_v1_folder(data: Path) -> None:
    """The file a v1 trichat leaves: the v1 schema, user_version never set."""
    data.mkdir()
    conn = sqlite3.connect(data / "trichat.db")
    conn.executescript(resources.files("trichat.store").joinpath("sqlite_schema.sql").read_text())
    conn.execute(
        "INSERT INTO channels VALUES (?, 'old', '', 'public', NULL, 1, 'u', 1, 1, 2)", (CID,)
    )
    for seq, deleted in ((1, None), (2, 5)):
        conn.execute(
            "INSERT INTO messages VALUES (?, ?, ?, 'u', 'u', NULL, NULL, ?, 'user', ?, ?)",
            (CID, seq, f"m{seq}", f"text {seq}", seq, deleted),
        )
    conn.commit()
    conn.close()


def columns(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
    finally:
        conn.close()


async def test_a_v1_data_folder_is_upgraded_in_place_once(tmp_path: Path) -> None:
    data = tmp_path / "trichat-data"
    write_v1_folder(data)
    assert "event" not in columns(data / "trichat.db")
    for _ in range(2):  # the second start finds version 2 and changes nothing
        async with open_sqlite_store(data) as store:
            got = await store.messages(CID, after=0, limit=10, include_deleted=True)
            assert [(m.seq, m.content, m.deleted) for m in got] == [
                (1, "text 1", False),
                (2, "text 2", True),
            ]
            assert all(m.parent_seq is None and m.edited_at is None for m in got)
            assert (await store.get_channel(CID)).last_seq == 2  # type: ignore[union-attr]
    conn = sqlite3.connect(data / "trichat.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"reactions", "reaction_counts"} <= tables
    events = conn.execute("SELECT DISTINCT event FROM messages").fetchall()
    assert events == [("message",)]
    conn.close()
    assert {"parent_seq", "reply_count", "event", "target_seq", "emoji"} <= columns(
        data / "trichat.db"
    )


async def test_an_upgraded_folder_counts_its_old_messages(tmp_path: Path) -> None:
    """v3 (read state) counts the messages stored before it: a marker set below them
    finds them unread, except the deleted one."""
    data = tmp_path / "trichat-data"
    write_v1_folder(data)
    async with open_sqlite_store(data) as store:
        assert await store.unread_at(CID, "bob", 0) == 1  # m1 (m2 is deleted)
        assert await store.unread_at(CID, "u", 0) == 0  # the author's own
        await store.start_read(CID, "bob", 10)
        [mark] = await store.read_marks("bob", [CID])
        assert (mark.seq, mark.unread) == (2, 0)
    conn = sqlite3.connect(data / "trichat.db")
    assert conn.execute("SELECT msg_total, read_receipts FROM channels").fetchall() == [(2, 1)]
    assert conn.execute("SELECT user_id, sent FROM authors").fetchall() == [("u", 2)]
    conn.close()
