"""The channel log over REST, and replay: a client that was away catches up on
edits, deletions, reactions and replies with one cursor, and the state it rebuilds
from the frames equals what REST says."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.conftest import Running, StartServer
from tests.helpers.client import Ws, http, ws_connect
from tests.integration.test_channel_log import ask, new_channel

API = "/api/v1/chat"


def apply(state: dict[int, dict[str, Any]], frame: dict[str, Any]) -> None:
    """What a client does with each log frame (docs/protocol.md)."""
    kind = frame["type"]
    if kind == "message":
        state[frame["seq"]] = {
            "content": frame["content"],
            "deleted": frame["deleted"],
            "reactions": {r["emoji"]: r["count"] for r in frame["reactions"]},
            "parent_seq": frame["parent_seq"],
        }
        return
    target = state.get(frame["target_seq"])
    if target is None:
        return
    if kind == "message_edited":
        target["content"] = frame["content"]
    elif kind == "message_deleted":
        target.update(content="", deleted=True)
    else:  # reaction_added / reaction_removed: counts are absolute
        target["reactions"][frame["emoji"]] = frame["count"]
        if frame["count"] == 0:
            del target["reactions"][frame["emoji"]]


async def read_log(ws: Ws, until_seq: int) -> list[dict[str, Any]]:
    frames = []
    while not frames or frames[-1]["seq"] < until_seq:
        frame = await ws.recv()
        if "seq" in frame and frame["type"] != "ack":
            frames.append(frame)
    return frames


async def test_a_client_away_catches_up_on_every_change_with_one_cursor(
    start_server: StartServer,
) -> None:
    server = await start_server(rate_limit_per_minute=1000)
    cid = await new_channel(server)
    state: dict[int, dict[str, Any]] = {}
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(cid)
        async with ws_connect(server.ws_url("bob")) as bob:
            await bob.join(cid)
            one, two = await alice.say(cid, "one"), await alice.say(cid, "two")
            for frame in await read_log(bob, two["seq"]):
                apply(state, frame)
            since = two["seq"]
        # bob is away: everything below happens without him
        await ask(alice, type="edit", channel_id=cid, target_seq=one["seq"], content="uno")
        await ask(alice, type="react", channel_id=cid, target_seq=one["seq"], emoji="👍")
        await ask(alice, type="delete", channel_id=cid, target_seq=two["seq"])
        await alice.send(type="message", channel_id=cid, content="re", parent_seq=one["seq"])
        last = (await alice.expect("ack"))["seq"]
    async with ws_connect(server.ws_url("bob")) as bob:
        joined = await bob.join(cid, since=since)
        assert joined["recovered"] and joined["last_seq"] == last
        for frame in await read_log(bob, last):
            apply(state, frame)
    page = await http(
        server.port, "GET", f"{API}/channels/{cid}/messages", token=server.token("bob")
    )
    rest = {m["seq"]: m for m in page.json()["messages"]}
    live = {seq: s for seq, s in state.items() if not s["deleted"]}
    assert set(live) == set(rest)  # the deleted one is left out of both
    for seq, mine in live.items():
        assert mine["content"] == rest[seq]["content"]
        assert mine["reactions"] == {r["emoji"]: r["count"] for r in rest[seq]["reactions"]}
        assert mine["parent_seq"] == rest[seq]["parent_seq"]
    assert rest[one["seq"]]["reply_count"] == 1


async def test_rest_edits_reacts_and_lists_who_reacted(server: Running) -> None:
    cid = await new_channel(server)
    base = f"{API}/channels/{cid}/messages"
    posted = await http(
        server.port, "POST", base, token=server.token("alice"), body={"content": "hi"}
    )
    seq = posted.json()["seq"]
    edit = await http(
        server.port, "PATCH", f"{base}/{seq}", token=server.token("alice"), body={"content": "hey"}
    )
    assert edit.status == 200 and edit.json()["seq"] == seq + 1
    denied = await http(
        server.port, "PATCH", f"{base}/{seq}", token=server.token("bob"), body={"content": "no"}
    )
    assert denied.status == 403 and denied.json()["error"]["code"] == "forbidden"
    emoji = quote("👍")
    for user in ("alice", "bob"):
        put = await http(
            server.port, "PUT", f"{base}/{seq}/reactions/{emoji}", token=server.token(user)
        )
        assert put.status == 200 and isinstance(put.json()["seq"], int)
    again = await http(
        server.port, "PUT", f"{base}/{seq}/reactions/{emoji}", token=server.token("bob")
    )
    assert again.json() == {"seq": None}
    who = await http(server.port, "GET", f"{base}/{seq}/reactions", token=server.token("bob"))
    assert who.json() == {"reactions": [{"emoji": "👍", "count": 2, "user_ids": ["alice", "bob"]}]}
    mine = await http(server.port, "GET", base, token=server.token("carol"))
    assert mine.json()["messages"][0]["reactions"] == [{"emoji": "👍", "count": 2, "me": False}]
    theirs = await http(server.port, "GET", base, token=server.token("bob"))
    assert theirs.json()["messages"][0]["reactions"][0]["me"] is True
    off = await http(
        server.port, "DELETE", f"{base}/{seq}/reactions/{emoji}", token=server.token("bob")
    )
    assert off.status == 200 and off.json()["seq"] > seq
    bad = await http(server.port, "PUT", f"{base}/{seq}/reactions/a%20b", token=server.token("bob"))
    assert bad.status == 400
    gone = await http(server.port, "PUT", f"{base}/99/reactions/{emoji}", token=server.token("bob"))
    assert gone.status == 404


async def test_rest_events_pages_the_raw_log(server: Running) -> None:
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(cid)
        said = await alice.say(cid, "a")
        await ask(alice, type="edit", channel_id=cid, target_seq=said["seq"], content="b")
        await alice.say(cid, "c")
    url = f"{API}/channels/{cid}/events"
    first = await http(server.port, "GET", f"{url}?after=0&limit=2", token=server.token("bob"))
    body = first.json()
    assert [e["type"] for e in body["events"]] == ["message", "message_edited"]
    assert body["events"][0]["content"] == "b"  # in its current state
    rest = await http(
        server.port, "GET", f"{url}?after={body['next_cursor']}", token=server.token("bob")
    )
    assert [e["content"] for e in rest.json()["events"]] == ["c"]
    assert rest.json()["next_cursor"] is None
    missing = await http(server.port, "GET", url, token=server.token("bob"))
    assert missing.status == 400  # `after` is required
