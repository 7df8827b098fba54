"""The channel log (SPEC §6) over WebSocket, live: edits, deletions, reactions and
replies, each with its rules, errors, ack and the frames other members get."""

from __future__ import annotations

from typing import Any

from tests.conftest import Running, StartServer
from tests.helpers.client import Ws, http, ws_connect

API = "/api/v1/chat"


async def new_channel(server: Running, owner: str = "owner") -> str:
    resp = await http(
        server.port, "POST", f"{API}/channels", token=server.token(owner), body={"name": "log"}
    )
    assert resp.status == 201, resp.body
    return resp.json()["id"]  # type: ignore[no-any-return]


async def ask(ws: Ws, **frame: Any) -> dict[str, Any]:
    """Send a change frame; its ack or error."""
    await ws.send(**frame)
    return await ws.expect_any(("ack", "error"), channel_id=frame["channel_id"])


async def test_edit_is_the_authors_and_everyone_sees_it(server: Running) -> None:
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(cid)
        await bob.join(cid)
        said = await alice.say(cid, "helo")
        edit = {"type": "edit", "channel_id": cid, "target_seq": said["seq"]}
        ack = await ask(alice, **edit, content="hello", message_id="e1")
        assert ack["type"] == "ack" and ack["seq"] == said["seq"] + 1
        assert ack["message_id"] == "e1"
        seen = await bob.expect("message_edited")
        assert seen == {
            "type": "message_edited",
            "channel_id": cid,
            "seq": ack["seq"],
            "target_seq": said["seq"],
            "content": "hello",
            "edited_at": ack["timestamp"],
            "user_id": "alice",
        }
        again = await ask(alice, **edit, content="other", message_id="e1")  # a retry
        assert again["seq"] == ack["seq"]
        refused = await ask(bob, **edit, content="mine now", message_id="b1")
        assert refused["code"] == "forbidden" and refused["message_id"] == "b1"
        unknown = await ask(alice, **{**edit, "target_seq": 999}, content="x", message_id="e2")
        assert unknown["code"] == "not_found"
        long = await ask(alice, **edit, content="x" * 501, message_id="e3")  # MAX_CONTENT_CHARS
        assert long["code"] == "too_long"
        history = await http(
            server.port, "GET", f"{API}/channels/{cid}/messages", token=server.token("bob")
        )
        [msg] = history.json()["messages"]
        assert msg["content"] == "hello" and msg["edited_at"] == ack["timestamp"]


async def test_changes_need_the_channel_joined(server: Running) -> None:
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("alice")) as alice:
        for frame in (
            {"type": "edit", "target_seq": 1, "content": "x"},
            {"type": "delete", "target_seq": 1},
            {"type": "react", "target_seq": 1, "emoji": "👍"},
        ):
            err = await ask(alice, channel_id=cid, message_id="m", **frame)
            assert err["code"] == "not_joined"


async def test_delete_by_author_or_creator_erases_the_text(server: Running) -> None:
    cid = await new_channel(server)
    async with (
        ws_connect(server.ws_url("alice")) as alice,
        ws_connect(server.ws_url("owner")) as owner,
    ):
        await alice.join(cid)
        await owner.join(cid)
        one, two = await alice.say(cid, "one"), await alice.say(cid, "two")
        async with ws_connect(server.ws_url("bob")) as bob:
            await bob.join(cid)
            denied = await ask(bob, type="delete", channel_id=cid, target_seq=one["seq"])
            assert denied["code"] == "forbidden"
        own = await ask(alice, type="delete", channel_id=cid, target_seq=one["seq"])
        by_owner = await ask(owner, type="delete", channel_id=cid, target_seq=two["seq"])
        assert own["type"] == by_owner["type"] == "ack"
        seen = await alice.expect("message_deleted", target_seq=two["seq"])
        assert seen["seq"] == by_owner["seq"] and seen["user_id"] == "owner"
        twice = await ask(alice, type="delete", channel_id=cid, target_seq=one["seq"])
        assert twice["code"] == "not_found"
        log = await http(
            server.port, "GET", f"{API}/channels/{cid}/events?after=0", token=server.token("alice")
        )
        texts = [e.get("content") for e in log.json()["events"] if e["type"] == "message"]
        assert texts == ["", ""]  # gone from the store, not only hidden


async def test_reactions_count_holders_and_a_repeat_changes_nothing(
    start_server: StartServer,
) -> None:
    server = await start_server(rate_limit_per_minute=1000)  # 20 emoji and more
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(cid)
        await bob.join(cid)
        said = await alice.say(cid, "react to me")
        react = {"type": "react", "channel_id": cid, "target_seq": said["seq"], "emoji": "👍"}
        first = await ask(alice, **react, message_id="r1")
        second = await ask(bob, **react, message_id="r2")
        seen = await alice.expect("reaction_added", user_id="bob")
        assert seen["count"] == 2 and seen["seq"] == second["seq"] == first["seq"] + 1
        held = await ask(alice, **react, message_id="r3")
        assert held["type"] == "ack" and held["seq"] is None
        gone = await ask(bob, **{**react, "type": "unreact"}, message_id="r4")
        removed = await alice.expect("reaction_removed")
        assert removed["seq"] == gone["seq"] and removed["count"] == 1
        blank = await ask(alice, **{**react, "emoji": "a b"}, message_id="r5")
        assert blank["code"] == "bad_request"
        for k in range(19):
            assert (await ask(alice, **{**react, "emoji": f"e{k}"}, message_id=f"x{k}"))["seq"]
        full = await ask(alice, **{**react, "emoji": "🎉"}, message_id="full")
        assert full["code"] == "too_many_reactions"


async def test_replies_form_a_thread_under_a_top_level_message(server: Running) -> None:
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(cid)
        await bob.join(cid)
        root = await alice.say(cid, "root")
        await bob.send(type="message", channel_id=cid, content="a reply", parent_seq=root["seq"])
        assert (await bob.expect("ack"))["seq"] == root["seq"] + 1
        reply = await alice.expect("message", content="a reply")
        assert reply["parent_seq"] == root["seq"]
        nested = {"type": "message", "channel_id": cid, "content": "deeper"}
        err = await ask(bob, **nested, parent_seq=reply["seq"], message_id="n1")
        assert err["code"] == "bad_request"
        err = await ask(bob, **nested, parent_seq=999, message_id="n2")
        assert err["code"] == "not_found"
        url = f"{API}/channels/{cid}/messages"
        thread = await http(
            server.port, "GET", f"{url}?thread={root['seq']}", token=server.token("bob")
        )
        got = thread.json()["messages"]
        assert [m["seq"] for m in got] == [root["seq"], reply["seq"]]
        assert got[0]["reply_count"] == 1 and got[0]["last_reply_at"] == reply["timestamp"]
        top = await http(server.port, "GET", f"{url}?top_level=true", token=server.token("bob"))
        assert [m["seq"] for m in top.json()["messages"]] == [root["seq"]]
