"""Read state across instances (SPEC §7): a marker moved on one instance is seen at
once by the same user's connections and by every answer on the others, receipts
cross instances, and a killed instance never moves a marker backwards."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from tests.cluster.conftest import Cluster
from tests.cluster.test_cluster import connect
from tests.helpers.client import http
from tests.helpers.process import TrichatProcess

API = "/api/v1/chat"


async def marker(node: TrichatProcess, user: str, cid: str) -> tuple[Any, Any]:
    resp = await http(node.port, "GET", f"{API}/channels/{cid}", token=node.token(user))
    assert resp.status == 200, resp.body
    got = resp.json()
    return got["read_seq"], got["unread"]


async def test_a_move_on_one_instance_reaches_every_device_on_the_others(
    cluster: Cluster,
) -> None:
    a, b, c = await cluster.start(3)
    general = a.general
    async with AsyncExitStack() as stack:
        phone, laptop = await connect(stack, a, "bob"), await connect(stack, b, "bob")
        tablet, ann = await connect(stack, c, "bob"), await connect(stack, b, "ann")
        await phone.join(general)
        await ann.join(general)
        for n in range(4):
            await ann.say(general, f"news {n}")
        start = (await laptop.join(general))["read_seq"]  # bob's marker: from phone's join
        assert (await marker(c, "bob", general)) == (start, 4)
        await phone.send(type="read", channel_id=general, seq=start + 3)
        full = {"type": "read", "channel_id": general, "user_id": "bob", "seq": start + 3}
        for device in (phone, laptop, tablet):  # tablet joined nothing
            assert await device.expect("read") == {**full, "unread": 1, "mentions": 0}
        assert await ann.expect("read") == full  # the receipt, on another instance
        assert await marker(c, "bob", general) == (start + 3, 1)  # before it is stored
        summary = await http(c.port, "GET", f"{API}/me/unread", token=c.token("bob"))
        assert summary.json()["total"] == 1


async def test_a_killed_instance_never_moves_a_marker_back(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    general = a.general
    async with AsyncExitStack() as stack:
        ann = await connect(stack, b, "ann")
        await ann.join(general)
        for n in range(5):
            await ann.say(general, f"m{n}")
    put = {"token": a.token("bob")}
    first = await http(a.port, "PUT", f"{API}/channels/{general}/read", body={"seq": 2}, **put)
    assert first.json()["read_seq"] == 2  # stored at once (the leading edge)
    await http(a.port, "PUT", f"{API}/channels/{general}/read", body={"seq": 4}, **put)
    a.kill()  # within the second: 4 may never be stored
    seq, unread = await marker(b, "bob", general)
    assert seq == 4 and unread == 1  # Redis holds the move for every instance
    lower = await http(
        b.port, "PUT", f"{API}/channels/{general}/read", body={"seq": 3},
        token=b.token("bob"),
    )  # fmt: skip
    assert lower.json() == {"read_seq": 4, "unread": 1}
