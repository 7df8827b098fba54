"""REST decides who may act before it judges what they sent: a stranger gets 403 or
404 whatever the body, and a route whose fields are all optional takes no body."""

from __future__ import annotations

import pytest

from tests.conftest import Running
from tests.helpers.client import http
from tests.integration.test_moderation import _channel

API = "/api/v1/chat"
GARBAGE = [b"not json", b"[1, 2]", b'{"unknown": 1}', b'{"reason": 5}']


async def test_a_ban_needs_no_body(server: Running) -> None:
    cid = await _channel(server, "owner")
    ban = f"{API}/channels/{cid}/bans/mallory"
    answer = await http(server.port, "PUT", ban, token=server.token("owner"), raw=b"", headers={})
    assert answer.status == 200, answer.body
    assert answer.json()["reason"] == "" and answer.json()["expires_at"] is None
    member = f"{API}/channels/{cid}/members/friend"
    added = await http(server.port, "PUT", member, token=server.token("owner"))
    assert added.status in (200, 204)


@pytest.mark.parametrize("raw", GARBAGE)
async def test_a_stranger_is_refused_whatever_the_body(server: Running, raw: bytes) -> None:
    cid = await _channel(server, "owner")
    private = await _channel(server, "owner", name="secret", channel_type="private")
    stranger = server.token("stranger")
    json = {"Content-Type": "application/json"}
    for method, path in (
        ("PUT", f"{API}/channels/{cid}/bans/victim"),
        ("PATCH", f"{API}/channels/{cid}"),
    ):
        answer = await http(server.port, method, path, token=stranger, raw=raw, headers=json)
        assert answer.status == 403, (method, path, answer.status, answer.body)
    hidden = f"{API}/channels/{private}/messages"
    answer = await http(server.port, "POST", hidden, token=stranger, raw=raw, headers=json)
    assert answer.status == 404  # a private channel does not reveal itself
    owner = server.token("owner")
    banned = await http(server.port, "PUT", f"{API}/channels/{cid}/bans/stranger", token=owner)
    assert banned.status == 200
    posted = f"{API}/channels/{cid}/messages"
    answer = await http(server.port, "POST", posted, token=stranger, raw=raw, headers=json)
    assert answer.status == 403 and "banned" in answer.json()["error"]["message"]


async def test_openapi_says_which_bodies_are_optional(server: Running) -> None:
    spec = (await http(server.port, "GET", "/openapi.json")).json()
    ban = spec["paths"]["/api/v1/chat/channels/{channel_id}/bans/{user_id}"]["put"]
    create = spec["paths"]["/api/v1/chat/channels"]["post"]
    assert ban["requestBody"]["required"] is False
    assert create["requestBody"]["required"] is True
