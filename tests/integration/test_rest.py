"""The REST routes the core needs: channels, history paging, presence, health, metrics."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import Running
from tests.helpers.client import http, ws_connect

API = "/api/v1/chat"


async def test_health_is_public(server: Running) -> None:
    resp = await http(server.port, "GET", f"{API}/health")
    assert resp.status == 200
    body = resp.json()
    assert body == {
        "status": "ok",
        "connections": 0,
        "http_connections": 1,  # this request's own
        "channels": 0,
        "broker": "ok",
        "store": "ok",
        "instance": "test",
    }


async def test_create_get_and_list_channels(server: Running) -> None:
    token = server.token("alice")
    resp = await http(
        server.port,
        "POST",
        f"{API}/channels",
        token=token,
        body={"name": "books", "description": "read", "max_participants": 10},
    )
    assert resp.status == 201
    made = resp.json()
    assert uuid.UUID(made["id"])
    assert made["name"] == "books" and made["channel_type"] == "public"
    assert made["created_by"] == "alice" and made["last_seq"] == 0
    assert made["members_online"] == 0 and made["is_active"] is True
    assert made["created_at"].endswith("Z")

    got = await http(server.port, "GET", f"{API}/channels/{made['id']}", token=token)
    assert got.status == 200 and got.json() == made

    listed = await http(server.port, "GET", f"{API}/channels?limit=1&offset=1", token=token)
    body = listed.json()
    assert body["total"] == 2 and body["limit"] == 1 and body["offset"] == 1
    assert [c["name"] for c in body["channels"]] == ["books"]

    dup = await http(server.port, "POST", f"{API}/channels", token=token, body={"name": "books"})
    assert dup.status == 409 and dup.json()["error"]["code"] == "conflict"


async def test_private_channels_hidden_from_strangers(server: Running) -> None:
    resp = await http(
        server.port,
        "POST",
        f"{API}/channels",
        token=server.token("owner"),
        body={"name": "hidden", "channel_type": "private"},
    )
    cid = resp.json()["id"]
    stranger = server.token("stranger")
    assert (await http(server.port, "GET", f"{API}/channels/{cid}", token=stranger)).status == 404
    listed = await http(server.port, "GET", f"{API}/channels?type=private", token=stranger)
    assert listed.json()["total"] == 0
    admin = server.token("root", admin=True)
    assert (await http(server.port, "GET", f"{API}/channels/{cid}", token=admin)).status == 200


async def test_history_paging(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        for k in range(7):
            await alice.say(server.general, f"m{k}")
    token = server.token("bob")
    base = f"{API}/channels/{server.general}/messages"
    page = (await http(server.port, "GET", f"{base}?limit=3", token=token)).json()
    assert [m["seq"] for m in page["messages"]] == [5, 6, 7] and page["next_cursor"] == 5
    older = (await http(server.port, "GET", f"{base}?limit=3&before=5", token=token)).json()
    assert [m["seq"] for m in older["messages"]] == [2, 3, 4] and older["next_cursor"] == 2
    last = (await http(server.port, "GET", f"{base}?limit=3&before=2", token=token)).json()
    assert [m["seq"] for m in last["messages"]] == [1] and last["next_cursor"] is None
    fwd = (await http(server.port, "GET", f"{base}?after=5", token=token)).json()
    assert [m["seq"] for m in fwd["messages"]] == [6, 7]
    first = fwd["messages"][0]
    assert "type" not in first and first["content"] == "m5" and first["user_id"] == "alice"


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=x", "before=-1", "after=abc", "before=3&after=1"],
)
async def test_history_bad_params_are_400(server: Running, query: str) -> None:
    resp = await http(
        server.port,
        "GET",
        f"{API}/channels/{server.general}/messages?{query}",
        token=server.token("a"),
    )
    assert resp.status == 400 and resp.json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        (None, b"{not json"),
        (None, b"[1]"),
        ({}, None),
        ({"name": ""}, None),
        ({"name": 5}, None),
        ({"name": "x" * 101}, None),
        ({"name": "ok", "channel_type": "secret"}, None),
        ({"name": "ok", "max_participants": 0}, None),
        ({"name": "ok", "max_participants": True}, None),
        ({"name": "ok", "surprise": 1}, None),
    ],
)
async def test_create_channel_validation(server: Running, body: object, raw: bytes | None) -> None:
    resp = await http(
        server.port, "POST", f"{API}/channels", token=server.token("a"), body=body, raw=raw
    )
    assert resp.status == 400, resp.body
    assert resp.json()["error"]["code"] == "bad_request"


async def test_huge_body_is_413(server: Running) -> None:
    resp = await http(
        server.port,
        "POST",
        f"{API}/channels",
        token=server.token("a"),
        raw=b'{"name": "' + b"x" * 200_000 + b'"}',
    )
    assert resp.status == 413 and resp.json()["error"]["code"] == "too_large"


async def test_create_rate_limit_429(server: Running) -> None:
    token = server.token("busy")
    for k in range(10):
        resp = await http(
            server.port, "POST", f"{API}/channels", token=token, body={"name": f"c{k}"}
        )
        assert resp.status == 201
    resp = await http(server.port, "POST", f"{API}/channels", token=token, body={"name": "c10"})
    assert resp.status == 429 and int(resp.headers["retry-after"]) >= 1


async def test_auth_and_ids(server: Running) -> None:
    assert (await http(server.port, "GET", f"{API}/channels")).status == 401
    bad = await http(server.port, "GET", f"{API}/channels", token="nope")
    assert bad.status == 401 and bad.json()["error"]["code"] == "unauthorized"
    token = server.token("a")
    assert (await http(server.port, "GET", f"{API}/channels/not-a-uuid", token=token)).status == 400
    assert (
        await http(server.port, "GET", f"{API}/channels/{uuid.uuid4()}", token=token)
    ).status == 404
    wrong = await http(server.port, "DELETE", f"{API}/channels", token=token)
    assert wrong.status == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_metrics_move_with_traffic(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await alice.say(server.general, "count me")
        await alice.expect("message")
        text = (await http(server.port, "GET", "/metrics")).body.decode()
        # the walking gauges are read at the scrape: current, not up to a second old
        assert "websocket_channels_active 1.0" in text
        assert 'trichat_queue_depth{queue="outbox"} 0.0' in text
    assert "websocket_connections_total 1.0" in text
    assert 'websocket_messages_total{type="message"} 1.0' in text
    assert 'websocket_messages_total{type="delivery"} 1.0' in text
    assert "websocket_message_latency_seconds_count 1.0" in text
    for name in (
        "websocket_connections_current",
        "websocket_errors_total",
        "websocket_channels_active",
        "websocket_rate_limit_hits_total",
        "websocket_broadcast_duration_seconds",
    ):
        assert name in text


async def test_dev_token_route_only_in_dev_mode(
    server: Running,
    start_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    absent = await http(server.port, "POST", f"{API}/dev/token", body={"user": "a"})
    assert absent.status in (401, 404, 405)
    assert "/dev/token" not in (await http(server.port, "GET", "/openapi.json")).body.decode()
    dev = await start_server(tmp_path / "dev", dev=True)  # its own store: one process per file
    resp = await http(dev.port, "POST", f"{API}/dev/token", body={"user": "carol"})
    assert resp.status == 200
    async with ws_connect(f"ws://127.0.0.1:{dev.port}/ws?token={resp.json()['token']}") as c:
        await c.join(dev.general)
    page = await http(dev.port, "GET", "/")
    assert b'data-dev="true"' in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_presence_online_and_recently_seen(server: Running) -> None:
    cid = server.general
    url = f"{API}/channels/{cid}/presence"
    token = server.token("viewer")
    async with ws_connect(server.ws_url("alice", username="Alice")) as alice:
        await alice.join(cid)
        async with ws_connect(server.ws_url("bob")) as bob:
            await bob.join(cid)
            await alice.expect("presence", user_id="bob", presence_type="joined")
            online = (await http(server.port, "GET", url, token=token)).json()["users"]
            assert sorted((u["user_id"], u["status"]) for u in online) == [
                ("alice", "online"),
                ("bob", "online"),
            ]
        await alice.expect("presence", user_id="bob", presence_type="left")
        now_online = (await http(server.port, "GET", url, token=token)).json()["users"]
        assert [u["user_id"] for u in now_online] == ["alice"]
        everyone = (await http(server.port, "GET", url + "?include=offline", token=token)).json()
        assert [(u["user_id"], u["status"]) for u in everyone["users"]] == [
            ("alice", "online"),
            ("bob", "offline"),
        ]
        assert everyone["users"][1]["last_seen"] >= online[0]["last_seen"]
    bad = await http(server.port, "GET", url + "?include=everyone", token=token)
    assert bad.status == 400 and "include" in bad.json()["error"]["message"]
