"""Read state (SPEC §7) over both doors, live: markers, the `read` events every
device of the user gets, receipts to the other members, exact unread counts."""

from __future__ import annotations

from typing import Any

import trio

from tests.conftest import Running, StartServer
from tests.helpers.client import Ws, http, ws_connect

API = "/api/v1/chat"


async def new_channel(server: Running, owner: str = "owner", **fields: Any) -> str:
    body = {"name": fields.pop("name", "reads"), **fields}
    resp = await http(server.port, "POST", f"{API}/channels", token=server.token(owner), body=body)
    assert resp.status == 201, resp.body
    return resp.json()["id"]  # type: ignore[no-any-return]


async def rest(server: Running, user: str, method: str, path: str, body: Any = None) -> Any:
    resp = await http(server.port, method, f"{API}{path}", token=server.token(user), body=body)
    assert resp.status == 200, (resp.status, resp.body)
    return resp.json()


async def channel_of(server: Running, user: str, cid: str) -> dict[str, Any]:
    return await rest(server, user, "GET", f"/channels/{cid}")  # type: ignore[no-any-return]


async def read(ws: Ws, cid: str, seq: int) -> None:
    await ws.send(type="read", channel_id=cid, seq=seq)


async def test_a_read_reaches_every_device_and_the_others_get_a_receipt(server: Running) -> None:
    cid = await new_channel(server)
    async with (
        ws_connect(server.ws_url("bob")) as phone,
        ws_connect(server.ws_url("bob")) as laptop,  # joined to nothing
        ws_connect(server.ws_url("ann")) as ann,
    ):
        assert (await phone.join(cid))["read_seq"] == 0
        await ann.join(cid)
        for n in range(3):
            await ann.say(cid, f"hi {n}")
        await read(phone, cid, 2)
        full = {"type": "read", "channel_id": cid, "user_id": "bob", "seq": 2}
        assert await phone.expect("read") == {**full, "unread": 1, "mentions": 0}
        assert await laptop.expect("read") == {**full, "unread": 1, "mentions": 0}
        assert await ann.expect("read") == {**full}  # a receipt: no counts
        await read(laptop, cid, 1)  # lower: moves nothing, sends nothing
        await read(laptop, cid, 99)  # past the end: taken as the end
        assert (await phone.expect("read"))["seq"] == 3
        assert (await laptop.expect("read")) == {**full, "seq": 3, "unread": 0, "mentions": 0}
        assert (await ann.expect("read"))["seq"] == 3
        assert all(f["type"] != "read" or f["seq"] != 1 for f in phone.seen + laptop.seen)
        assert not [f for f in phone.seen if f["type"] == "read" and "unread" not in f]


async def test_unread_is_exact_through_own_messages_replies_and_deletions(
    server: Running,
) -> None:
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("bob")) as bob, ws_connect(server.ws_url("ann")) as ann:
        await bob.join(cid)
        await ann.join(cid)
        one = await ann.say(cid, "one")
        await bob.say(cid, "mine")  # the user's own: never unread
        await ann.send(type="message", channel_id=cid, content="re", parent_seq=one["seq"])
        reply = await ann.expect("ack")
        three = await ann.say(cid, "three")
        assert (await channel_of(server, "bob", cid))["unread"] == 3
        await ann.send(type="delete", channel_id=cid, target_seq=three["seq"], message_id="d")
        await ann.expect("ack", message_id="d")
        assert (await channel_of(server, "bob", cid))["unread"] == 2  # one, re
        await read(bob, cid, reply["seq"])
        assert (await bob.expect("read"))["unread"] == 0
        got = await channel_of(server, "bob", cid)
        assert (got["read_seq"], got["unread"], got["mentions"]) == (reply["seq"], 0, 0)
    async with ws_connect(server.ws_url("bob")) as bob:  # a reconnect resets nothing
        joined = await bob.join(cid)
        assert (joined["read_seq"], joined["unread"]) == (reply["seq"], 0)


async def test_read_errors(server: Running) -> None:
    private = await new_channel(server, name="hidden", channel_type="private")
    async with ws_connect(server.ws_url("bob")) as bob:
        for frame, code in (
            ({"channel_id": private, "seq": 1}, "not_found"),  # may not see it
            ({"channel_id": server.general}, "bad_request"),
            ({"channel_id": server.general, "seq": -1}, "bad_request"),
            ({"channel_id": server.general, "seq": "3"}, "bad_request"),
            ({"channel_id": "nope", "seq": 1}, "not_found"),
        ):
            await bob.send(type="read", **frame)
            err = await bob.expect("error")
            assert err["code"] == code, (frame, err)
    resp = await http(
        server.port, "PUT", f"{API}/channels/{private}/read", token=server.token("bob"),
        body={"seq": 1},
    )  # fmt: skip
    assert resp.status == 404
    for body in ({}, {"seq": -1}, {"seq": "x"}, {"seq": 1.5}):
        resp = await http(
            server.port, "PUT", f"{API}/channels/{server.general}/read",
            token=server.token("bob"), body=body,
        )  # fmt: skip
        assert resp.status == 400, body


async def test_rest_moves_markers_and_lists_what_is_unread(server: Running) -> None:
    one, two = await new_channel(server, name="one"), await new_channel(server, name="two")
    async with ws_connect(server.ws_url("ann")) as ann:
        await ann.join(one)
        await ann.join(two)
        for cid in (one, two, two):
            await ann.say(cid, "news")
    assert (await channel_of(server, "bob", one))["read_seq"] is None  # no marker yet
    assert (await channel_of(server, "owner", one))["read_seq"] is None  # creating: no join
    assert await rest(server, "bob", "GET", "/me/unread") == {"channels": [], "total": 0}
    moved = await rest(server, "bob", "PUT", f"/channels/{two}/read", {"seq": 1})
    assert moved == {"read_seq": 1, "unread": 1}
    again = await rest(server, "bob", "PUT", f"/channels/{two}/read", {"seq": 0})
    assert again == {"read_seq": 1, "unread": 1}  # lower: the marker stands
    await rest(server, "bob", "PUT", f"/channels/{one}/read", {"seq": 0})
    summary = await rest(server, "bob", "GET", "/me/unread")
    assert summary["total"] == 2
    rows = [(c["channel_id"], c["unread"], c["read_seq"], c["last_seq"], c["mentions"])
            for c in summary["channels"]]  # fmt: skip
    assert sorted(rows) == sorted([(one, 1, 0, 1, 0), (two, 1, 1, 2, 0)])
    await rest(server, "bob", "PUT", f"/channels/{one}/read", {"seq": 1})
    summary = await rest(server, "bob", "GET", "/me/unread")  # only what has unread left
    assert [c["channel_id"] for c in summary["channels"]] == [two] and summary["total"] == 1
    listed = await rest(server, "bob", "GET", "/channels")
    shown = {c["id"]: (c["read_seq"], c["unread"]) for c in listed["channels"]}
    assert shown[one] == (1, 0) and shown[two] == (1, 1) and shown[server.general] == (None, 0)
    past = await rest(server, "bob", "PUT", f"/channels/{two}/read", {"seq": 10**6})
    assert past == {"read_seq": 2, "unread": 0}  # past the end: taken as the end
    reads = await rest(server, "ann", "GET", f"/channels/{two}/reads")
    # ann joined at 0; sending moves no marker (SPEC §7)
    assert {(r["user_id"], r["seq"]) for r in reads["reads"]} == {("bob", 2), ("ann", 0)}
    assert all(r["read_at"].endswith("Z") for r in reads["reads"])


async def test_reads_are_not_rate_limited(server: Running) -> None:
    async with ws_connect(server.ws_url("ann")) as ann:
        await ann.join(server.general)
        for n in range(15):
            await ann.say(server.general, f"m{n}")
    for seq in range(1, 16):  # more moves than the 20 a minute a test server allows...
        await rest(server, "bob", "PUT", f"/channels/{server.general}/read", {"seq": seq})
    async with ws_connect(server.ws_url("bob")) as bob:  # ...over either door
        for seq in range(1, 16):
            await read(bob, server.general, 15 + seq)  # past the end: nothing moves
        await read(bob, server.general, 0)
        await bob.send(type="typing", channel_id=server.general)  # not joined: an error...
        assert (await bob.expect("error"))["code"] == "not_joined"  # ...and no other came
        assert not [f for f in bob.seen if f["type"] == "error" and f["code"] == "rate_limited"]


async def test_read_receipts_off(server: Running) -> None:
    cid = await new_channel(server)
    patched = await rest(server, "owner", "PATCH", f"/channels/{cid}", {"read_receipts": False})
    assert patched["read_receipts"] is False
    forbidden = await http(
        server.port, "GET", f"{API}/channels/{cid}/reads", token=server.token("bob")
    )
    assert forbidden.status == 403
    await rest(server, "owner", "GET", f"/channels/{cid}/reads")  # its creator may
    as_admin = await http(
        server.port, "GET", f"{API}/channels/{cid}/reads", token=server.token("op", admin=True)
    )
    assert as_admin.status == 200  # and admins
    async with ws_connect(server.ws_url("bob")) as bob, ws_connect(server.ws_url("ann")) as ann:
        await bob.join(cid)
        await ann.join(cid)
        await ann.say(cid, "hello")
        await read(bob, cid, 1)
        assert (await bob.expect("read"))["unread"] == 0
        await ann.say(cid, "still there?")  # ann's frames in order: no receipt came first
        assert not [f for f in ann.seen if f["type"] == "read"]
    bad = await http(
        server.port, "PATCH", f"{API}/channels/{cid}", token=server.token("owner"),
        body={"read_receipts": "no"},
    )  # fmt: skip
    assert bad.status == 400


async def test_members_of_a_private_channel_get_and_lose_a_marker(server: Running) -> None:
    cid = await new_channel(server, channel_type="private")
    async with ws_connect(server.ws_url("owner")) as owner:
        await owner.join(cid)
        await owner.say(cid, "before bob")
        await rest(server, "owner", "PUT", f"/channels/{cid}/members/bob")
        await owner.say(cid, "for bob")
    assert (await channel_of(server, "bob", cid))["read_seq"] == 1
    assert (await rest(server, "bob", "GET", "/me/unread"))["total"] == 1
    resp = await http(
        server.port, "DELETE", f"{API}/channels/{cid}/members/bob", token=server.token("owner")
    )
    assert resp.status in (200, 204)
    assert (await rest(server, "bob", "GET", "/me/unread"))["total"] == 0


async def test_markers_survive_a_restart(start_server: StartServer, tmp_path: Any) -> None:
    server = await start_server()
    cid = await new_channel(server)
    async with ws_connect(server.ws_url("ann")) as ann:
        await ann.join(cid)
        for n in range(4):
            await ann.say(cid, f"m{n}")
    await rest(server, "bob", "PUT", f"/channels/{cid}/read", {"seq": 1})
    await rest(server, "bob", "PUT", f"/channels/{cid}/read", {"seq": 3})  # coalesced
    server.handle.stop()
    with trio.fail_after(10):
        await server.done.wait()
    again = await start_server()
    got = await channel_of(again, "bob", cid)
    assert (got["read_seq"], got["unread"]) == (3, 1)
