"""Moderation over REST, seen live over WebSocket: bans, members, deletes, closing."""

from __future__ import annotations

from typing import Any

from tests.conftest import Running
from tests.helpers.client import http, ws_connect
from tests.helpers.rawws import raw_ws

API = "/api/v1/chat"


async def _channel(server: Running, owner: str, **body: Any) -> str:
    resp = await http(
        server.port,
        "POST",
        f"{API}/channels",
        token=server.token(owner),
        body={"name": body.pop("name", f"ch-{owner}"), **body},
    )
    assert resp.status == 201, resp.body
    return resp.json()["id"]  # type: ignore[no-any-return]


async def test_ban_kicks_live_member_blocks_rejoin_and_is_logged(server: Running) -> None:
    cid = await _channel(server, "owner")
    async with (
        ws_connect(server.ws_url("owner")) as owner,
        ws_connect(server.ws_url("mallory")) as mallory,
    ):
        await owner.join(cid)
        await mallory.join(cid)
        await owner.expect("presence", user_id="mallory", presence_type="joined")
        resp = await http(
            server.port,
            "PUT",
            f"{API}/channels/{cid}/bans/mallory",
            token=server.token("owner"),
            body={"reason": "spam"},
        )
        assert resp.status == 200
        ban = resp.json()
        assert ban["user_id"] == "mallory" and ban["reason"] == "spam"
        assert ban["expires_at"] is None and ban["banned_by"] == "owner"

        left = await mallory.expect("left", channel_id=cid)
        assert left["reason"] == "banned"
        await owner.expect("presence", user_id="mallory", presence_type="left")
        await mallory.send(type="message", channel_id=cid, content="still here?")
        assert (await mallory.expect("error"))["code"] == "not_joined"
        await mallory.send(type="join", channel_id=cid)
        assert (await mallory.expect("error"))["code"] == "forbidden"
    async with raw_ws(
        server.port, f"{API}/channels/{cid}/ws?token={server.token('mallory')}"
    ) as raw:
        assert raw.status == 403
    posted = await http(
        server.port,
        "POST",
        f"{API}/channels/{cid}/messages",
        token=server.token("mallory"),
        body={"content": "sneaky"},
    )
    assert posted.status == 403

    log = await http(
        server.port, "GET", f"{API}/channels/{cid}/moderation", token=server.token("owner")
    )
    entries = log.json()["entries"]
    assert entries[0]["action"] == "ban" and entries[0]["target"] == "mallory"
    assert entries[0]["actor"] == "owner" and "spam" in entries[0]["detail"]


async def test_a_lifted_ban_lets_the_user_back_and_is_logged_once(server: Running) -> None:
    cid = await _channel(server, "owner")
    banned = await http(
        server.port, "PUT", f"{API}/channels/{cid}/bans/mallory", token=server.token("owner")
    )
    assert banned.status == 200
    lifted = await http(
        server.port, "DELETE", f"{API}/channels/{cid}/bans/mallory", token=server.token("owner")
    )
    assert lifted.status == 204
    again = await http(
        server.port, "DELETE", f"{API}/channels/{cid}/bans/mallory", token=server.token("owner")
    )
    assert again.status == 404 and again.json()["error"]["code"] == "not_found"
    log = await http(
        server.port, "GET", f"{API}/channels/{cid}/moderation", token=server.token("owner")
    )
    actions = [e["action"] for e in log.json()["entries"]]
    assert actions.count("unban") == 1  # the second lifted nothing: not logged
    async with ws_connect(server.ws_url("mallory")) as mallory:
        await mallory.join(cid)


async def test_ban_expires_on_the_clock(server: Running) -> None:
    cid = await _channel(server, "owner")
    service = server.handle.service
    now = service.clock()
    resp = await http(
        server.port,
        "PUT",
        f"{API}/channels/{cid}/bans/m",
        token=server.token("owner"),
        body={"duration_seconds": 600},
    )
    assert resp.status == 200 and resp.json()["expires_at"] is not None
    async with ws_connect(server.ws_url("m")) as m:
        await m.send(type="join", channel_id=cid)
        assert (await m.expect("error"))["code"] == "forbidden"
        service.clock = lambda: now + 599_000
        await m.send(type="join", channel_id=cid)
        assert (await m.expect("error"))["code"] == "forbidden"
        service.clock = lambda: now + 601_000  # ten minutes and a second later
        await m.join(cid)


async def test_only_creator_or_admin_moderates(server: Running) -> None:
    cid = await _channel(server, "owner")
    stranger = server.token("stranger")
    for method, path, body in (
        ("PUT", f"{API}/channels/{cid}/bans/x", {}),
        ("DELETE", f"{API}/channels/{cid}/bans/x", None),
        ("PUT", f"{API}/channels/{cid}/members/x", None),
        ("PATCH", f"{API}/channels/{cid}", {"name": "mine now"}),
        ("GET", f"{API}/channels/{cid}/moderation", None),
    ):
        resp = await http(server.port, method, path, token=stranger, body=body)
        assert resp.status == 403, (method, path, resp.body)
        assert resp.json()["error"]["code"] == "forbidden"
    admin = server.token("root", admin=True)
    resp = await http(server.port, "PUT", f"{API}/channels/{cid}/bans/x", token=admin, body={})
    assert resp.status == 200
    self_ban = await http(
        server.port, "PUT", f"{API}/channels/{cid}/bans/owner", token=server.token("owner"), body={}
    )
    assert self_ban.status == 400


async def test_private_membership(server: Running) -> None:
    cid = await _channel(server, "owner", channel_type="private")
    token = server.token("owner")
    async with ws_connect(server.ws_url("guest")) as guest:
        await guest.send(type="join", channel_id=cid)
        assert (await guest.expect("error"))["code"] == "forbidden"
        got = await http(server.port, "GET", f"{API}/channels/{cid}", token=server.token("guest"))
        assert got.status == 404  # a private channel does not reveal itself

        added = await http(server.port, "PUT", f"{API}/channels/{cid}/members/guest", token=token)
        assert added.status == 200 and added.json()["member"] is True
        await guest.join(cid)
        listed = await http(
            server.port, "GET", f"{API}/channels?type=private", token=server.token("guest")
        )
        assert [c["id"] for c in listed.json()["channels"]] == [cid]

        removed = await http(
            server.port, "DELETE", f"{API}/channels/{cid}/members/guest", token=token
        )
        assert removed.status == 200 and removed.json()["member"] is False
        left = await guest.expect("left", channel_id=cid)
        assert left["reason"] == "removed"
        await guest.send(type="join", channel_id=cid)
        assert (await guest.expect("error"))["code"] == "forbidden"


async def test_post_message_over_rest(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        path = f"{API}/channels/{server.general}/messages"
        first = await http(
            server.port,
            "POST",
            path,
            token=server.token("backend"),
            body={"content": "from the app", "message_id": "app-1"},
        )
        assert first.status == 201
        body = first.json()
        assert body["seq"] == 1 and body["message_id"] == "app-1"
        assert body["timestamp"].endswith("Z")
        again = await http(
            server.port,
            "POST",
            path,
            token=server.token("backend"),
            body={"content": "from the app", "message_id": "app-1"},
        )
        assert again.status == 200 and again.json() == body
        got = await alice.expect("message")
        assert got["content"] == "from the app" and got["user_id"] == "backend"

        system = await http(
            server.port,
            "POST",
            path,
            token=server.token("op", admin=True),
            body={"content": "maintenance at noon", "kind": "system"},
        )
        assert system.status == 201
        announced = await alice.expect("message", seq=2)
        assert announced["kind"] == "system"
        refused = await http(
            server.port,
            "POST",
            path,
            token=server.token("backend"),
            body={"content": "fake", "kind": "system"},
        )
        assert refused.status == 403
        too_long = await http(
            server.port, "POST", path, token=server.token("backend"), body={"content": "x" * 501}
        )
        assert too_long.status == 400 and too_long.json()["error"]["code"] == "too_long"


async def test_post_message_rate_limit_is_shared_with_websocket(server: Running) -> None:
    path = f"{API}/channels/{server.general}/messages"
    token = server.token("chatty")
    async with ws_connect(server.ws_url("chatty")) as ws:
        await ws.join(server.general)
        for k in range(20):
            await ws.say(server.general, f"m{k}")
    resp = await http(server.port, "POST", path, token=token, body={"content": "one more"})
    assert resp.status == 429 and int(resp.headers["retry-after"]) >= 1
    assert resp.json()["error"]["code"] == "rate_limited"


async def test_delete_message(server: Running) -> None:
    cid = await _channel(server, "owner")
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(cid)
        await bob.join(cid)
        a1 = await alice.say(cid, "alice 1")
        a2 = await alice.say(cid, "alice 2")
        a3 = await alice.say(cid, "alice 3")
        base = f"{API}/channels/{cid}/messages"
        stranger = await http(
            server.port, "DELETE", f"{base}/{a1['seq']}", token=server.token("bob")
        )
        assert stranger.status == 403
        for seq, who in ((a1["seq"], "alice"), (a2["seq"], "owner")):
            resp = await http(server.port, "DELETE", f"{base}/{seq}", token=server.token(who))
            assert resp.status == 200
            own_seq = resp.json()["seq"]  # the deletion takes the channel's next seq (v2)
            deleted = await bob.expect("message_deleted")
            assert deleted == {
                "type": "message_deleted",
                "channel_id": cid,
                "seq": own_seq,
                "target_seq": seq,
                "user_id": who,
            }
        admin = await http(
            server.port, "DELETE", f"{base}/{a3['seq']}", token=server.token("root", admin=True)
        )
        assert admin.status == 200
        gone = await http(server.port, "DELETE", f"{base}/{a3['seq']}", token=server.token("alice"))
        assert gone.status == 404
        assert (
            await http(server.port, "DELETE", f"{base}/99", token=server.token("alice"))
        ).status == 404
        assert (
            await http(server.port, "DELETE", f"{base}/x", token=server.token("alice"))
        ).status == 400
        history = await http(server.port, "GET", base, token=server.token("bob"))
        assert history.json()["messages"] == []
    log = await http(
        server.port, "GET", f"{API}/channels/{cid}/moderation", token=server.token("owner")
    )
    actions = [(e["action"], e["actor"]) for e in log.json()["entries"]]
    assert actions == [("delete_message", "root"), ("delete_message", "owner")]


async def test_patch_and_close_channel(server: Running) -> None:
    cid = await _channel(server, "owner", name="old name")
    token = server.token("owner")
    async with ws_connect(server.ws_url("member")) as member:
        await member.join(cid)
        resp = await http(
            server.port,
            "PATCH",
            f"{API}/channels/{cid}",
            token=token,
            body={"name": "new name", "max_participants": 5},
        )
        assert resp.status == 200
        body = resp.json()
        assert body["name"] == "new name" and body["max_participants"] == 5
        dup = await http(
            server.port, "PATCH", f"{API}/channels/{cid}", token=token, body={"name": "general"}
        )
        assert dup.status == 409
        closed = await http(
            server.port, "PATCH", f"{API}/channels/{cid}", token=token, body={"is_active": False}
        )
        assert closed.status == 200 and closed.json()["is_active"] is False
        left = await member.expect("left", channel_id=cid)
        assert left["reason"] == "channel_closed"
        await member.send(type="join", channel_id=cid)
        assert (await member.expect("error"))["code"] == "not_found"


async def test_patch_rate_limit(server: Running) -> None:
    cid = await _channel(server, "owner")
    token = server.token("owner")
    for k in range(10):
        resp = await http(
            server.port,
            "PATCH",
            f"{API}/channels/{cid}",
            token=token,
            body={"description": f"v{k}"},
        )
        assert resp.status == 200
    resp = await http(
        server.port, "PATCH", f"{API}/channels/{cid}", token=token, body={"description": "v10"}
    )
    assert resp.status == 429 and "retry-after" in resp.headers


async def test_stats_for_admins_only(server: Running) -> None:
    async with (
        ws_connect(server.ws_url("alice")) as alice,
        ws_connect(server.ws_url("alice")) as alice2,
    ):
        await alice.join(server.general)
        await alice2.join(server.general)
        denied = await http(server.port, "GET", f"{API}/stats", token=server.token("alice"))
        assert denied.status == 403
        resp = await http(
            server.port, "GET", f"{API}/stats", token=server.token("root", admin=True)
        )
        assert resp.status == 200
        body = resp.json()
        assert body["connections"] == 2 and body["channels_active"] == 1
        assert body["channels"] == [
            {"channel_id": server.general, "connections": 2, "users_online": 1}
        ]
        assert body["cluster"] == {"users_online": 1, "channels_with_users": 1}
