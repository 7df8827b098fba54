"""The channel log across instances: edits, reactions, deletions and replies made
on one instance reach members on the others in the one seq order."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from tests.cluster.conftest import Cluster
from tests.cluster.test_cluster import connect
from tests.helpers.client import Ws

LOG = ("message", "message_edited", "message_deleted", "reaction_added", "reaction_removed")


async def log_frames(ws: Ws, n: int) -> list[dict[str, Any]]:
    return [await ws.expect_any(LOG) for _ in range(n)]


async def test_changes_on_one_instance_arrive_in_order_on_another(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    general = a.general
    async with AsyncExitStack() as stack:
        alice, bob = await connect(stack, a, "alice"), await connect(stack, b, "bob")
        await alice.join(general)
        await bob.join(general)
        said = await alice.say(general, "hello")
        change = {"channel_id": general, "target_seq": said["seq"]}
        for frame in (
            {"type": "edit", "content": "hello, all"},
            {"type": "react", "emoji": "👍"},
        ):
            await alice.send(**change, **frame)
            await alice.expect("ack")
        await bob.send(**change, type="react", emoji="👍")
        await bob.expect("ack")
        await bob.send(type="message", channel_id=general, content="re", parent_seq=said["seq"])
        await bob.expect("ack")
        await alice.send(**change, type="delete")
        await alice.expect("ack")
        for ws in (alice, bob):
            got = await log_frames(ws, 6)
            assert [f["seq"] for f in got] == list(range(said["seq"], said["seq"] + 6))
            kinds = [f["type"] for f in got]
            assert kinds == ["message", "message_edited", "reaction_added", "reaction_added",
                             "message", "message_deleted"]  # fmt: skip
            assert got[3]["count"] == 2 and got[4]["parent_seq"] == said["seq"]


async def test_an_edit_published_while_redis_is_away_heals_from_the_store(
    cluster: Cluster,
) -> None:
    # Redis stopped: the edit is stored and acked on A, but its publish to B is
    # lost; once Redis is back, B's supervisor resyncs and reads it from the log
    a, b = await cluster.start(2)
    general = a.general
    async with AsyncExitStack() as stack:
        alice, bob = await connect(stack, a, "alice"), await connect(stack, b, "bob")
        await alice.join(general)
        await bob.join(general)
        said = await alice.say(general, "draft")
        await bob.expect("message", seq=said["seq"])
        cluster.redis.stop()
        await alice.send(type="edit", channel_id=general, target_seq=said["seq"], content="final")
        ack = await alice.expect("ack")
        assert ack["seq"] == said["seq"] + 1  # stored without Redis
        cluster.redis.start()
        edited = await bob.expect("message_edited")  # within the resync, unprompted
        assert edited["seq"] == ack["seq"] and edited["content"] == "final"
