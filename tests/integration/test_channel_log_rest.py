"""The channel log's REST errors and retries (SPEC §6): the same rules as the frames,
answered with HTTP statuses."""

from __future__ import annotations

from urllib.parse import quote

from tests.conftest import StartServer
from tests.helpers.client import http
from tests.integration.test_channel_log import new_channel

API = "/api/v1/chat"


async def test_rest_changes_retry_safely_and_refuse_clearly(start_server: StartServer) -> None:
    server = await start_server(rate_limit_per_minute=1000)
    cid = await new_channel(server)
    base = f"{API}/channels/{cid}/messages"
    alice = server.token("alice")
    seq = (await http(server.port, "POST", base, token=alice, body={"content": "hi"})).json()["seq"]
    body = {"content": "hey", "message_id": "edit-1"}
    first = await http(server.port, "PATCH", f"{base}/{seq}", token=alice, body=body)
    again = await http(server.port, "PATCH", f"{base}/{seq}", token=alice, body=body)
    assert first.status == again.status == 200 and first.json() == again.json()
    events = await http(server.port, "GET", f"{API}/channels/{cid}/events?after=0", token=alice)
    assert [e["type"] for e in events.json()["events"]] == ["message", "message_edited"]
    for k in range(20):
        put = await http(server.port, "PUT", f"{base}/{seq}/reactions/e{k}", token=alice)
        assert put.status == 200
    full = await http(server.port, "PUT", f"{base}/{seq}/reactions/{quote('🎉')}", token=alice)
    assert full.status == 409 and full.json()["error"]["code"] == "too_many_reactions"
    reply = {"content": "re", "parent_seq": seq}
    posted = await http(server.port, "POST", base, token=alice, body=reply)
    assert posted.status == 201
    nested = {"content": "deeper", "parent_seq": posted.json()["seq"]}
    assert (await http(server.port, "POST", base, token=alice, body=nested)).status == 400
    lost = {"content": "lost", "parent_seq": 9999}
    assert (await http(server.port, "POST", base, token=alice, body=lost)).status == 404
    deleted = await http(server.port, "DELETE", f"{base}/{seq}", token=alice)
    assert deleted.status == 200
    who = await http(server.port, "GET", f"{base}/{seq}/reactions", token=alice)
    assert who.status == 404  # a deleted message has no reactions to list
    edit = await http(server.port, "PATCH", f"{base}/{seq}", token=alice, body={"content": "x"})
    assert edit.status == 404


async def test_a_private_channels_log_stays_hidden(start_server: StartServer) -> None:
    server = await start_server()
    made = await http(
        server.port,
        "POST",
        f"{API}/channels",
        token=server.token("owner"),
        body={"name": "secret", "channel_type": "private"},
    )
    cid = made.json()["id"]
    stranger = server.token("mallory")
    for method, path in (
        ("GET", f"{API}/channels/{cid}/events?after=0"),
        ("PATCH", f"{API}/channels/{cid}/messages/1"),
        ("PUT", f"{API}/channels/{cid}/messages/1/reactions/x"),
        ("GET", f"{API}/channels/{cid}/messages/1/reactions"),
    ):
        body = {"content": "x"} if method == "PATCH" else None
        resp = await http(server.port, method, path, token=stranger, body=body)
        assert resp.status == 404, (method, path, resp.status)
