"""Every `error` code of SPEC §3, and bad input that must be answered, not fatal."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Running, StartServer
from tests.helpers.client import http, ws_connect


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"channel_id": "x"}', "'type'"),
        ('{"type": "dance"}', "unknown frame type"),
        ('{"type": "join"}', "missing field 'channel_id'"),
        ('{"type": "join", "channel_id": 7}', "must be a string"),
        ('{"type": "join", "channel_id": "x", "since": -1}', "since"),
        ('{"type": "join", "channel_id": "x", "since": "3"}', "since"),
        ('{"type": "message", "channel_id": "x"}', "'content'"),
        ('{"type": "message", "channel_id": "x", "content": 5}', "must be a string"),
        ('{"type": "message", "channel_id": "x", "content": "   "}', "empty"),
        ('{"type": "message", "channel_id": "x", "content": "a", "message_id": 1}', "message_id"),
        ('{"type": "refresh"}', "'token'"),
    ],
)
async def test_bad_frames_get_bad_request_and_connection_lives(
    server: Running, raw: str, needle: str
) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.conn.send_message(raw)
        err = await alice.expect("error")
        assert err["code"] == "bad_request"
        assert needle in err["error"]
        await alice.join(server.general)  # still usable: an error never closes


async def test_message_id_longer_than_64_is_refused(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await alice.send(
            type="message", channel_id=server.general, content="x", message_id="m" * 65
        )
        err = await alice.expect("error")
        assert err["code"] == "bad_request" and err["channel_id"] == server.general


async def test_unknown_channel_is_not_found(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        for channel_id in (str(uuid.uuid4()), "not-a-uuid"):
            await alice.send(type="join", channel_id=channel_id)
            err = await alice.expect("error")
            assert err["code"] == "not_found" and err["channel_id"] == channel_id


async def test_private_channel_is_forbidden_to_strangers(server: Running) -> None:
    resp = await http(
        server.port,
        "POST",
        "/api/v1/chat/channels",
        token=server.token("owner"),
        body={"name": "secret", "channel_type": "private"},
    )
    assert resp.status == 201
    channel_id = resp.json()["id"]
    async with ws_connect(server.ws_url("stranger")) as stranger:
        await stranger.send(type="join", channel_id=channel_id)
        err = await stranger.expect("error")
        assert err["code"] == "forbidden"
    async with ws_connect(server.ws_url("owner")) as owner:
        await owner.join(channel_id)  # the creator may
    async with ws_connect(server.ws_url("root", admin=True)) as admin:
        await admin.join(channel_id)  # and so may an admin


async def test_banned_user_is_forbidden(server: Running) -> None:
    from trichat.models import Ban, now_ms

    await server.handle.store.put_ban(
        Ban(server.general, "mallory", "spam", "admin", now_ms(), None)
    )
    async with ws_connect(server.ws_url("mallory")) as mallory:
        await mallory.send(type="join", channel_id=server.general)
        err = await mallory.expect("error")
        assert err["code"] == "forbidden" and "banned" in err["error"]


async def test_full_channel(server: Running) -> None:
    resp = await http(
        server.port,
        "POST",
        "/api/v1/chat/channels",
        token=server.token("owner"),
        body={"name": "tiny", "max_participants": 1},
    )
    channel_id = resp.json()["id"]
    async with (
        ws_connect(server.ws_url("a")) as a,
        ws_connect(server.ws_url("b")) as b,
        ws_connect(server.ws_url("a")) as a2,
    ):
        await a.join(channel_id)
        await b.send(type="join", channel_id=channel_id)
        err = await b.expect("error")
        assert err["code"] == "channel_full"
        await a2.join(channel_id)  # the same user's second connection still fits


async def test_not_joined(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.send(type="message", channel_id=server.general, content="hi", message_id="m1")
        err = await alice.expect("error")
        assert err == {
            "type": "error",
            "code": "not_joined",
            "error": err["error"],
            "channel_id": server.general,
            "message_id": "m1",
        }
        await alice.send(type="typing", channel_id=server.general)
        assert (await alice.expect("error"))["code"] == "not_joined"
        await alice.send(type="leave", channel_id=server.general)
        assert (await alice.expect("error"))["code"] == "not_joined"


async def test_too_long(start_server: StartServer) -> None:
    server = await start_server(max_content_chars=10)
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await alice.send(
            type="message", channel_id=server.general, content="x" * 11, message_id="long"
        )
        err = await alice.expect("error")
        assert err["code"] == "too_long" and err["message_id"] == "long"
        assert (await alice.say(server.general, "é" * 10))["seq"] == 1  # chars, not bytes


async def test_rate_limited_after_a_full_bucket(start_server: StartServer) -> None:
    server = await start_server(rate_limit_per_minute=5)
    async with (
        ws_connect(server.ws_url("alice")) as alice,
        ws_connect(server.ws_url("alice")) as alice2,
    ):
        await alice.join(server.general)
        await alice2.join(server.general)
        for k in range(5):  # a whole minute's worth at once is fine
            await alice.say(server.general, f"m{k}")
        await alice2.send(
            type="message", channel_id=server.general, content="one more", message_id="x"
        )
        err = await alice2.expect("error")  # counted per user, across connections
        assert err["code"] == "rate_limited" and err["message_id"] == "x"
        assert 0 < err["retry_after"] <= 12
    async with ws_connect(server.ws_url("bob")) as bob:  # others are not affected
        await bob.join(server.general)
        await bob.say(server.general, "bob is fine")


async def test_refresh(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        fresh = server.token("alice", ttl=7200)
        await alice.send(type="refresh", token=fresh)
        refreshed = await alice.expect("refreshed")
        assert isinstance(refreshed["exp"], int)
        await alice.send(type="refresh", token=server.token("bob"))
        err = await alice.expect("error")
        assert err["code"] == "bad_request" and "same user" in err["error"]
        await alice.send(type="refresh", token="garbage")
        assert (await alice.expect("error"))["code"] == "unauthorized"
        await alice.join(server.general)
