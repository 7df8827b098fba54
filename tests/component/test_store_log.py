"""The channel log (SPEC §6) on every store: changes and replies take the channel's
next seq, their rules hold in the same transaction, retries change nothing, and a
message reads back in its current state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.component.stores import Backend, draft, new_channel
from tests.component.test_store_contract import backend  # noqa: F401 (the fixture)
from trichat.errors import BAD_REQUEST, FORBIDDEN, NOT_FOUND, TOO_MANY_REACTIONS
from trichat.models import (
    EV_DELETE,
    EV_EDIT,
    EV_REACT,
    EV_UNREACT,
    Change,
    LogEvent,
    LogRefused,
    Message,
)
from trichat.store.base import Store


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:  # noqa: F811
    async with backend.open() as s:
        yield s


def change(cid: str, kind: str, target: int, op: str, user: str = "u", **kw: object) -> Change:
    return Change(cid, kind, target, op, user, 5000, **kw)  # type: ignore[arg-type]


async def refused(store: Store, op: Change) -> str:
    with pytest.raises(LogRefused) as err:
        await store.change(op)
    return err.value.code


async def test_changes_take_the_next_seq_and_fold_into_the_message(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    edited = await store.change(change(cid, EV_EDIT, 1, "e1", content="better"))
    assert edited.event is not None and (edited.event.seq, edited.event.kind) == (2, EV_EDIT)
    assert edited.event.content == "better" and edited.event.target_seq == 1
    reacted = await store.change(change(cid, EV_REACT, 1, "r1", emoji="👍"))
    assert reacted.event is not None and (reacted.event.seq, reacted.event.count) == (3, 1)
    await store.change(change(cid, EV_REACT, 1, "r2", user="v", emoji="👍"))
    await store.change(change(cid, EV_REACT, 1, "r3", user="v", emoji="🎉"))
    [msg] = await store.messages(cid, after=0, limit=10)
    assert (msg.content, msg.edited_at, msg.reactions) == ("better", 5000, (("👍", 2), ("🎉", 1)))
    assert (await store.get_channel(cid)).last_seq == 5  # type: ignore[union-attr]
    log = await store.events(cid, after=0, limit=10)
    assert [item.seq for item in log] == [1, 2, 3, 4, 5]
    assert isinstance(log[0], Message) and log[0].reactions == msg.reactions
    assert [e.kind for e in log[1:] if isinstance(e, LogEvent)] == [EV_EDIT, EV_REACT] + [
        EV_REACT
    ] * 2


async def test_a_reaction_held_or_not_held_stores_nothing(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    assert (await store.change(change(cid, EV_UNREACT, 1, "x", emoji="👍"))).event is None
    await store.change(change(cid, EV_REACT, 1, "a", emoji="👍"))
    again = await store.change(change(cid, EV_REACT, 1, "b", emoji="👍"))
    assert again.event is None and not again.duplicate
    removed = await store.change(change(cid, EV_UNREACT, 1, "c", emoji="👍"))
    assert removed.event is not None and (removed.event.seq, removed.event.count) == (3, 0)
    [msg] = await store.messages(cid, after=0, limit=10)
    assert msg.reactions == ()
    assert (await store.get_channel(cid)).last_seq == 3  # type: ignore[union-attr]


async def test_a_repeated_message_id_gets_the_first_event_back(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    first = await store.change(change(cid, EV_EDIT, 1, "same", content="one"))
    again = await store.change(change(cid, EV_EDIT, 1, "same", content="two"))
    assert again.duplicate and again.event == first.event
    other_kind = await store.change(change(cid, EV_REACT, 1, "same", emoji="👍"))
    assert other_kind.duplicate and other_kind.event == first.event  # one namespace
    [msg] = await store.messages(cid, after=0, limit=10)
    assert msg.content == "one" and msg.reactions == ()


async def test_the_rules_of_each_change(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1, user="author"))
    assert await refused(store, change(cid, EV_EDIT, 9, "a", content="x")) == NOT_FOUND
    assert await refused(store, change(cid, EV_EDIT, 1, "b", content="x")) == FORBIDDEN
    assert await refused(store, change(cid, EV_DELETE, 1, "c")) == FORBIDDEN
    by_mod = await store.change(change(cid, EV_DELETE, 1, "d", moderator=True))
    assert by_mod.event is not None and by_mod.event.kind == EV_DELETE
    for kind, extra in ((EV_EDIT, {"content": "x"}), (EV_DELETE, {}), (EV_REACT, {"emoji": "👍"})):
        op = change(cid, kind, 1, f"after-{kind}", user="author", **extra)
        assert await refused(store, op) == NOT_FOUND  # deleted
    assert await refused(store, change(cid, EV_REACT, 2, "e", emoji="👍")) == NOT_FOUND  # an event
    assert (await store.get_channel(cid)).last_seq == 2  # type: ignore[union-attr]


async def test_at_most_twenty_distinct_emoji(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    for k in range(20):
        await store.change(change(cid, EV_REACT, 1, f"r{k}", emoji=f"e{k}"))
    assert await refused(store, change(cid, EV_REACT, 1, "r20", emoji="e20")) == TOO_MANY_REACTIONS
    more = await store.change(change(cid, EV_REACT, 1, "r21", user="v", emoji="e3"))
    assert more.event is not None and more.event.count == 2  # a held emoji still grows


async def test_a_deletion_erases_the_text_everywhere(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    await store.change(change(cid, EV_EDIT, 1, "e", content="secret v2"))
    await store.change(change(cid, EV_DELETE, 1, "d"))
    log = await store.events(cid, after=0, limit=10)
    assert [(i.seq, i.content) for i in log] == [(1, ""), (2, ""), (3, "")]
    assert isinstance(log[0], Message) and log[0].deleted
    assert await store.messages(cid, after=0, limit=10) == []  # deleted: left out
    assert all("secret" not in str(i) and "text 1" not in str(i) for i in log)


async def test_replies_count_on_their_root_and_pages_filter_them(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    one = await store.append(replace(draft(cid, 2), parent_seq=1))
    assert one.message.parent_seq == 1 and one.message.seq == 2
    again = await store.append(replace(draft(cid, 2), parent_seq=1))
    assert again.duplicate and again.message.seq == 2
    await store.append(replace(draft(cid, 3), parent_seq=1))
    await store.append(draft(cid, 4))
    with pytest.raises(LogRefused) as nested:
        await store.append(replace(draft(cid, 5), parent_seq=2))
    assert nested.value.code == BAD_REQUEST
    with pytest.raises(LogRefused) as unknown:
        await store.append(replace(draft(cid, 6), parent_seq=99))
    assert unknown.value.code == NOT_FOUND
    root = (await store.messages(cid, after=0, limit=1))[0]
    assert (root.reply_count, root.last_reply_at) == (2, 1003)
    await store.change(change(cid, EV_DELETE, 3, "d"))
    assert (await store.messages(cid, after=0, limit=1))[0].reply_count == 1
    top = await store.messages(cid, after=0, limit=10, top_level=True)
    assert [m.seq for m in top] == [1, 4]
    thread = await store.messages(cid, before=None, limit=10, thread=1)
    assert [m.seq for m in thread] == [1, 2]
    assert (await store.get_channel(cid)).last_seq == 5  # type: ignore[union-attr]


async def test_reaction_users_lists_the_holders_of_each_emoji(store: Store) -> None:
    cid = await new_channel(store)
    await store.append(draft(cid, 1))
    for n, (user, emoji) in enumerate((("a", "👍"), ("b", "👍"), ("a", "🎉"))):
        await store.change(change(cid, EV_REACT, 1, f"r{n}", user=user, emoji=emoji))
    assert await store.reaction_users(cid, 1, limit=100) == [("👍", ["a", "b"]), ("🎉", ["a"])]
    assert await store.reaction_users(cid, 1, limit=1) == [("👍", ["a"]), ("🎉", ["a"])]
    assert await store.held_reactions(cid, "a", 1, 1) == {(1, "👍"), (1, "🎉")}
    assert await store.held_reactions(cid, "b", 2, 9) == set()
