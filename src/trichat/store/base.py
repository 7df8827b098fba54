"""The store seam: the one source of truth for channels, messages, members, bans.

Guarantees every implementation gives:

- `append` assigns the channel's next seq in the same transaction that stores the
  message, so a channel's seqs start at 1 and grow by exactly one per message,
  across every instance sharing the store. It returns only once the message is
  durable. A draft whose (channel, user, message_id) was stored before stores
  nothing and returns the first message with `duplicate=True`.
- Reads return messages in ascending seq.
- Driver failures surface as `StoreUnavailable`, never as driver exceptions.
- Shutdown (leaving `open_*_store`) drains, then closes: every write already
  handed to the store is answered (those queued for the writer are committed
  first), and only then are the connections closed. A write the writer gets
  after that starts is refused with `StoreUnavailable`.

Both implementations are written over one SQL layer (`store/sql.py`: statements,
paging, the shared methods; `store/rows.py`: tables and row mapping;
`store/writer.py`: the group-commit writer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from trichat.models import (
    Admission,
    AppendResult,
    Ban,
    Change,
    ChangeResult,
    Channel,
    LogEvent,
    Message,
    MessageDraft,
    PresenceEntry,
    ReadMark,
)


class Store(Protocol):
    name: str

    observe_batch: Callable[[int], None]  # called with each commit's number of writes

    @property
    def pending_writes(self) -> int:
        """Writes handed to the store and not answered yet (a queue-depth gauge):
        those queued for the group-commit writer, those in the batch it is
        committing, and (PostgreSQL, where only appends are group-committed) the
        other writes running on the pool. Reads are never counted; nor is a write
        still waiting for room in a full queue. 0 once every write is answered."""

    async def ping(self) -> None:
        """Raise `StoreUnavailable` when the store cannot answer."""

    async def claim(self, *, alone: bool) -> bool:
        """Tell the other instances on this store that this one runs, until close.
        `alone`: with no shared broker, so it needs the store to itself (its members
        would not see other instances' messages live). False when that conflicts:
        an instance without a broker next to any other instance."""

    # channels
    async def create_channel(
        self,
        *,
        channel_id: str,
        name: str,
        description: str,
        channel_type: str,
        max_participants: int | None,
        created_by: str,
        now: int,
    ) -> Channel: ...

    async def get_channel(self, channel_id: str) -> Channel | None: ...

    async def find_channel_by_name(self, name: str) -> Channel | None: ...

    async def last_seqs(self, channel_ids: list[str]) -> dict[str, int]:
        """Each known channel's last assigned seq, in one read (the tail watcher)."""

    async def list_channels(
        self,
        *,
        user_id: str,
        see_all: bool,
        channel_type: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Channel], int]:
        """Channels the user may see (public ones, private ones they belong to,
        every one when `see_all`), oldest first, with the total count."""

    async def update_channel(
        self, channel_id: str, changes: dict[str, object], now: int
    ) -> Channel | None: ...

    # messages
    async def append(self, draft: MessageDraft) -> AppendResult: ...

    async def append_soon(
        self, draft: MessageDraft, done: Callable[[AppendResult | BaseException], None]
    ) -> None:
        """Queue a message that is not a reply, as `append` stores it; returns once
        it is queued, and `done` is called (from the store's writer task) with the
        result once it is durable, or with the exception `append` would raise."""

    async def messages(
        self,
        channel_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int,
        include_deleted: bool = False,
        top_level: bool = False,
        thread: int | None = None,
    ) -> list[Message]:
        """Messages (no other events of the log) in their current state, reactions
        included; ascending seq. With `after`: the first `limit` with seq > after.
        Otherwise the last `limit` with seq < before (or the newest). `top_level`:
        no replies; `thread`: that root and its replies only."""

    async def events(self, channel_id: str, *, after: int, limit: int) -> list[Message | LogEvent]:
        """The log after `after` in seq order, every kind; messages in their current
        state (a deleted one with its text gone), other events as stored."""

    async def change(self, op: Change) -> ChangeResult:
        """Rule on `op` and store it as the channel's next seq, its target's state
        changed in the same transaction; `LogRefused` when a rule says no. A
        `message_id` the user used before in the channel (for any operation)
        changes nothing and returns the first event. An `append` with a
        `parent_seq` is a reply, ruled on the same way."""

    async def held_reactions(
        self, channel_id: str, user_id: str, first: int, last: int
    ) -> set[tuple[int, str]]:
        """(seq, emoji) of each reaction `user_id` holds on messages first..last."""

    async def reaction_users(
        self, channel_id: str, seq: int, limit: int
    ) -> list[tuple[str, list[str]]]:
        """Each emoji on message `seq` (in the order first added) and its first
        `limit` holders (in the order they reacted)."""

    async def get_message(self, channel_id: str, seq: int) -> Message | None: ...

    # membership and moderation
    async def is_member(self, channel_id: str, user_id: str) -> bool: ...

    async def set_member(
        self, channel_id: str, user_id: str, present: bool, by: str, now: int
    ) -> None: ...

    async def admission(self, channel_id: str, user_id: str, now: int) -> Admission | None:
        """The channel (None: no such channel), whether the user is its member, is
        banned at `now` (a ban in force: not expired by then), and their stored
        marker with its count: one read."""

    async def put_ban(self, ban: Ban) -> None: ...

    async def delete_ban(self, channel_id: str, user_id: str, by: str, now: int) -> bool: ...

    async def log_moderation(
        self, channel_id: str, actor: str, action: str, target: str, detail: str, now: int
    ) -> None: ...

    async def moderation_log(self, channel_id: str, limit: int) -> list[dict[str, object]]: ...

    # read markers (SPEC §7): `ReadMark.unread` is exact, read from counters the
    # writes keep (store/read_sql.py), never counted over the log per answer

    async def read_marks(self, user_id: str, channel_ids: Sequence[str] | None) -> list[ReadMark]:
        """The user's markers in those channels (None: in every active channel),
        each with its unread count and the channel's last seq."""

    async def channel_reads(self, channel_id: str) -> list[ReadMark]:
        """Every marker in the channel (no counts), latest move first."""

    async def unread_at(self, channel_id: str, user_id: str, seq: int) -> int:
        """What would be unread with the user's marker at `seq` (at or above the
        stored one): for a move not stored yet."""

    async def start_read(self, channel_id: str, user_id: str, at: int) -> ReadMark | None:
        """A marker at the channel's last seq, unless the user has one: the marker
        made (nothing unread), or None when one was there."""

    async def put_reads(self, moves: Sequence[ReadMark]) -> None:
        """Raise each marker to its `seq` (clamped to the channel's last; a lower
        one changes nothing), creating it if needed; `at` is when it moved."""

    async def drop_read(self, channel_id: str, user_id: str) -> None: ...

    # presence history
    async def record_seen(self, channel_id: str, user_id: str, username: str, at: int) -> None:
        """Remember that the user was present in the channel at `at` (epoch ms)."""

    async def recently_seen(self, channel_id: str, limit: int) -> list[PresenceEntry]:
        """Users last present in the channel, most recent first."""
