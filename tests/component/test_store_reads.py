"""Read markers (SPEC §7) on every store: a marker's unread count is exact through
others' messages, one's own, replies, deletions above and below it, and moves of
every size; markers never move backwards, and survive reopening the store. And a
join's admission: the channel, membership, a ban in force and the marker at once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import trio
import trio.lowlevel

from tests.component.stores import Backend, banned, draft, new_channel
from tests.component.test_store_contract import backend  # noqa: F401 (the fixture)
from trichat.models import EV_DELETE, Ban, Change, ReadMark
from trichat.store.base import Store


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:  # noqa: F811
    async with backend.open() as s:
        yield s


def move(cid: str, user: str, seq: int, at: int = 7000) -> ReadMark:
    return ReadMark(cid, user, seq, at)


async def unread(store: Store, cid: str, user: str) -> tuple[int, int] | None:
    """(marker, unread) of `user` in `cid`, or None without a marker."""
    marks = await store.read_marks(user, [cid])
    assert len(marks) <= 1
    return (marks[0].seq, marks[0].unread) if marks else None


async def post(store: Store, cid: str, n: int, user: str, parent: int | None = None) -> int:
    result = await store.append(replace(draft(cid, n, user=user), parent_seq=parent))
    return result.message.seq


async def delete(store: Store, cid: str, seq: int, by: str) -> None:
    await store.change(Change(cid, EV_DELETE, seq, f"d{seq}", by, 6000, moderator=True))


async def test_a_marker_starts_at_the_end_and_counts_the_others_messages(store: Store) -> None:
    cid = await new_channel(store)
    await post(store, cid, 1, "ann")
    assert await unread(store, cid, "bob") is None  # no marker: nothing counted
    made = await store.start_read(cid, "bob", 5000)
    assert made == ReadMark(cid, "bob", 1, 5000, unread=0, last_seq=1)  # the marker made
    assert await unread(store, cid, "bob") == (1, 0)
    await post(store, cid, 2, "ann")
    await post(store, cid, 3, "bob")  # bob's own: not unread
    await post(store, cid, 4, "ann", parent=2)  # a reply counts
    assert await unread(store, cid, "bob") == (1, 2)
    assert await store.start_read(cid, "bob", 5001) is None  # a later first join resets nothing
    assert await unread(store, cid, "bob") == (1, 2)
    [mark] = await store.read_marks("bob", None)
    assert (mark.channel_id, mark.at, mark.last_seq) == (cid, 5000, 4)


async def test_moves_of_every_size_count_exactly(store: Store) -> None:
    cid = await new_channel(store)
    await store.start_read(cid, "bob", 1)
    for n in range(1, 11):  # seqs 1..10, every third bob's own
        await post(store, cid, n, "bob" if n % 3 == 0 else "ann")
    assert await unread(store, cid, "bob") == (0, 7)
    await store.put_reads([move(cid, "bob", 4)])  # passes 1, 2, (3 own), 4
    assert await unread(store, cid, "bob") == (4, 4)
    assert await store.unread_at(cid, "bob", 8) == 1  # 5, (6), 7, 8 passed: 10 left
    await store.put_reads([move(cid, "bob", 2)])  # lower: nothing moves
    assert await unread(store, cid, "bob") == (4, 4)
    await store.put_reads([move(cid, "bob", 99)])  # past the end: taken as the end
    assert await unread(store, cid, "bob") == (10, 0)
    await post(store, cid, 11, "ann")
    assert await unread(store, cid, "bob") == (10, 1)


async def test_deletions_lower_the_count_only_for_those_below_them(store: Store) -> None:
    cid = await new_channel(store)
    for user in ("bob", "cat", "ann"):
        await store.start_read(cid, user, 1)
    for n in range(1, 6):
        await post(store, cid, n, "ann")
    await store.put_reads([move(cid, "cat", 3)])
    await delete(store, cid, 2, by="ann")  # below cat's marker, above bob's
    await delete(store, cid, 5, by="ann")  # above both
    assert await unread(store, cid, "bob") == (0, 3)  # 1, 3, 4
    assert await unread(store, cid, "cat") == (3, 1)  # 4
    assert await unread(store, cid, "ann") == (0, 0)  # her own, deleted or not
    # moving over deleted messages does not count them twice
    await store.put_reads([move(cid, "bob", 4)])
    assert await unread(store, cid, "bob") == (4, 0)
    await post(store, cid, 8, "cat")  # seq 8 (6, 7: the deletions, not messages)
    assert await unread(store, cid, "bob") == (4, 1)
    await store.put_reads([move(cid, "bob", 7)])
    assert await unread(store, cid, "bob") == (7, 1)


async def test_a_read_creates_a_marker_anywhere(store: Store) -> None:
    cid = await new_channel(store)
    for n in range(1, 7):
        await post(store, cid, n, "bob" if n == 5 else "ann")
    await delete(store, cid, 6, by="ann")
    assert await store.unread_at(cid, "bob", 2) == 2  # 3, 4 (5 own, 6 deleted)
    await store.put_reads([move(cid, "bob", 2, at=9000)])
    assert await unread(store, cid, "bob") == (2, 2)
    [receipt] = await store.channel_reads(cid)
    assert (receipt.user_id, receipt.seq, receipt.at) == ("bob", 2, 9000)


async def test_a_batch_of_moves_and_dropping_a_marker(store: Store) -> None:
    one, two = await new_channel(store, "one"), await new_channel(store, "two")
    for cid in (one, two):
        await post(store, cid, 1, "ann")
        await post(store, cid, 2, "ann")
    nowhere = "00000000-0000-4000-8000-000000000000"
    await store.put_reads([move(one, "bob", 1), move(two, "bob", 2), move(nowhere, "bob", 1)])
    assert await unread(store, one, "bob") == (1, 1)
    assert await unread(store, two, "bob") == (2, 0)
    assert [m.channel_id for m in await store.read_marks("bob", None)] == [one, two] or [
        m.channel_id for m in await store.read_marks("bob", None)
    ] == [two, one]
    await store.drop_read(one, "bob")
    assert await unread(store, one, "bob") is None
    assert await store.read_marks("bob", []) == []


async def test_concurrent_moves_and_messages_stay_exact(store: Store) -> None:
    cid = await new_channel(store)
    await store.start_read(cid, "bob", 1)

    async def ann_posts() -> None:
        for n in range(1, 41):
            await post(store, cid, n, "ann")

    async def bob_reads() -> None:
        for seq in range(0, 41, 3):
            await store.put_reads([move(cid, "bob", seq)])
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ann_posts)
        nursery.start_soon(bob_reads)
    marker, left = await unread(store, cid, "bob")  # type: ignore[misc]
    assert left == 40 - marker


async def test_markers_survive_reopening(backend: Backend) -> None:  # noqa: F811
    async with backend.open() as store:
        cid = await new_channel(store)
        await post(store, cid, 1, "ann")
        await post(store, cid, 2, "ann")
        await store.start_read(cid, "bob", 1)
        await post(store, cid, 3, "ann")
    async with backend.open() as store:
        assert await unread(store, cid, "bob") == (2, 1)
        await post(store, cid, 4, "ann")
        assert await unread(store, cid, "bob") == (2, 2)


async def test_an_admission_reads_the_channel_membership_ban_and_marker_at_once(
    store: Store,
) -> None:
    cid = await new_channel(store)
    assert await store.admission(str(uuid.uuid4()), "bob", 1) is None  # no such channel
    first = await store.admission(cid, "bob", 1)
    assert first is not None and first.channel == await store.get_channel(cid)
    assert (first.member, first.banned, first.mark) == (False, False, None)
    await post(store, cid, 1, "ann")
    await store.start_read(cid, "bob", 5000)
    await post(store, cid, 2, "ann")
    await post(store, cid, 3, "bob")  # bob's own: not unread
    await store.set_member(cid, "bob", True, "u", 2)
    await store.put_ban(Ban(cid, "bob", "spam", "u", 100, expires_at=200))
    banned = await store.admission(cid, "bob", 150)
    assert banned is not None and (banned.member, banned.banned) == (True, True)
    assert banned.mark == ReadMark(cid, "bob", 1, 5000, unread=1, last_seq=3)
    assert banned.mark == (await store.read_marks("bob", [cid]))[0]
    expired = await store.admission(cid, "bob", 200)  # the ban is over at its expiry
    assert expired is not None and not expired.banned and expired.channel.last_seq == 3
    other = await store.admission(cid, "ann", 150)  # another user's: nothing of bob's
    assert other is not None and (other.member, other.banned, other.mark) == (False, False, None)


async def test_bans_expire(store: Store) -> None:
    cid = await new_channel(store)
    await store.put_ban(Ban(cid, "m", "spam", "admin", 100, expires_at=200))
    assert await banned(store, cid, "m", 150)
    assert not await banned(store, cid, "m", 200)
    await store.put_ban(Ban(cid, "m", "again", "admin", 300, expires_at=None))
    assert await banned(store, cid, "m", 10**12)
    assert await store.delete_ban(cid, "m", "admin", 400)
    assert not await banned(store, cid, "m", 500)
