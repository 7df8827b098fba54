"""The SQLite writer's memory of each channel's last seq and message total."""

from __future__ import annotations

import sqlite3

from trichat.store.sql import no_channel


class Seqs:
    """Each channel's last seq and message total as the writer last wrote them. The
    writer connection is the only one that writes `channels.last_seq` and
    `msg_total`, so after one read per channel an append numbers its message with
    no statement; every batch then writes each channel's new values once, just
    before its COMMIT. A batch that fails as a whole (rolled back) makes the writer
    forget everything and read again."""

    MAX_CHANNELS = 100_000  # past this, forgotten after a flush (read again on use)

    def __init__(self) -> None:
        self.last: dict[str, list[int]] = {}  # channel → [last seq, message total]
        self.dirty: set[str] = set()

    def of(self, c: sqlite3.Connection, channel_id: str) -> list[int]:
        """[last seq, message total] of the channel as this transaction has them."""
        known = self.last.get(channel_id)
        if known is None:
            sql = "SELECT last_seq, msg_total FROM channels WHERE id = ?"
            row = c.execute(sql, (channel_id,)).fetchone()
            if row is None:
                raise LookupError(no_channel(channel_id))
            known = self.last[channel_id] = [row[0], row[1]]
        return known

    def next(self, c: sqlite3.Connection, channel_id: str) -> int:
        return self.of(c, channel_id)[0] + 1

    def took(self, channel_id: str, seq: int, *, message: bool = True) -> None:
        """`seq` is stored: a message (counted in the total) or another event."""
        known = self.last[channel_id]
        known[0] = seq
        if message:
            known[1] += 1
        self.dirty.add(channel_id)

    def flush(self, c: sqlite3.Connection) -> None:
        if self.dirty:
            c.executemany(
                "UPDATE channels SET last_seq = ?, msg_total = ? WHERE id = ?",
                [(*self.last[cid], cid) for cid in self.dirty],
            )
            self.dirty.clear()
        if len(self.last) > self.MAX_CHANNELS:
            self.last.clear()

    def forget(self) -> None:
        self.last.clear()
        self.dirty.clear()
