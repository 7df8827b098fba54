"""Input that must be refused the same way on both stores (issue 14): integers out
of range or written in other scripts' digits, channel ids in other forms than the
canonical one, invisible or NUL text, claims out of range, bodies that are not
JSON. Each is answered, nothing is stored, and the connection goes on."""

from __future__ import annotations

import itertools
import time
from typing import Any

import jwt
import pytest
import trio

from tests.conftest import SECRET, Running, StartServer
from tests.helpers.client import http, ws_connect
from tests.helpers.pg import PostgresServer
from tests.helpers.rawws import raw_ws

API = "/api/v1/chat"
_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
async def on_store(request: pytest.FixtureRequest, start_server: StartServer) -> Running:
    if request.param == "sqlite":
        return await start_server()
    pg: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"bad_input_{next(_databases)}"
    await trio.to_thread.run_sync(pg.psql, f"CREATE DATABASE {name}")
    return await start_server(database_url=pg.dsn(name))


@pytest.mark.parametrize("since", [2**62 + 1, 2**63, 2**64, 10**30])
async def test_join_since_out_of_range_is_bad_request(on_store: Running, since: int) -> None:
    async with ws_connect(on_store.ws_url("alice")) as alice:
        raw = f'{{"type": "join", "channel_id": "{on_store.general}", "since": {since}}}'
        await alice.conn.send_message(raw)
        err = await alice.expect("error")
        assert err["code"] == "bad_request" and "since" in err["error"]
        assert (await alice.join(on_store.general, since=2**62))["last_seq"] == 0


# superscript, circled, fullwidth and Arabic-Indic digits; signs, spaces, underscores
UNICODE_DIGITS = ["\u00b2", "\u00b9", "\u2460", "\uff11", "\u0663"]


@pytest.mark.parametrize("seq", [*UNICODE_DIGITS, "+1", " 1", "1_0", "9" * 20])
async def test_a_seq_in_a_path_is_ascii_digits_in_range(on_store: Running, seq: str) -> None:
    token = on_store.token("alice")
    messages = f"{API}/channels/{on_store.general}/messages"
    posted = await http(on_store.port, "POST", messages, token=token, body={"content": "keep"})
    assert posted.status == 201 and posted.json()["seq"] == 1
    path = f"{messages}/{_quote(seq)}"
    deleted = await http(on_store.port, "DELETE", path, token=token)
    assert deleted.status == 400, deleted.body
    assert "seq" in deleted.json()["error"]["message"]
    history = await http(on_store.port, "GET", messages, token=token)
    assert [m["content"] for m in history.json()["messages"]] == ["keep"]  # nothing deleted


@pytest.mark.parametrize("value", [*UNICODE_DIGITS, "+5", "5_0", "-1", " 5", "9" * 20])
async def test_query_integers_are_ascii_digits(on_store: Running, value: str) -> None:
    path = f"{API}/channels/{on_store.general}/messages?limit={_quote(value)}"
    answer = await http(on_store.port, "GET", path, token=on_store.token("alice"))
    assert answer.status == 400 and "limit" in answer.json()["error"]["message"]


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


async def test_one_canonical_channel_id_on_every_door(on_store: Running) -> None:
    general, token = on_store.general, on_store.token("alice")
    upper = general.upper()
    got = await http(on_store.port, "GET", f"{API}/channels/{upper}", token=token)
    assert got.status == 200 and got.json()["id"] == general
    for other in (f"{{{general}}}", f"urn:uuid:{general}", general.replace("-", "")):
        refused = await http(on_store.port, "GET", f"{API}/channels/{_quote(other)}", token=token)
        assert refused.status == 400, (other, refused.status)
        assert "UUID" in refused.json()["error"]["message"]
    async with ws_connect(on_store.ws_url("alice")) as alice:
        await alice.send(type="join", channel_id=upper)
        await alice.expect("joined", channel_id=general)  # the canonical id comes back
        ack = await alice.say(upper, "hi")
        assert ack["channel_id"] == general
        got_msg = await alice.expect("message")
        assert got_msg["channel_id"] == general
        for other in (f"{{{general}}}", f"urn:uuid:{general}", general.replace("-", "")):
            await alice.send(type="join", channel_id=other)
            err = await alice.expect("error")
            assert err["code"] == "not_found", (other, err)  # no channel has that id


@pytest.mark.parametrize(
    "content", ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u3164 ", "\t\n"]
)
async def test_invisible_content_is_blank(server: Running, content: str) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await alice.send(type="message", channel_id=server.general, content=content)
        err = await alice.expect("error")
        assert err["code"] == "bad_request" and "empty" in err["error"]
        assert (await alice.say(server.general, "visible \u200b"))["seq"] == 1


async def test_nul_is_refused_in_content_names_and_ids(on_store: Running) -> None:
    general, token, port = on_store.general, on_store.token("alice"), on_store.port
    async with ws_connect(on_store.ws_url("alice")) as alice:
        await alice.join(general)
        await alice.send(type="message", channel_id=general, content="a\x00b")
        assert (await alice.expect("error"))["code"] == "bad_request"
        await alice.send(type="message", channel_id=general, content="a", message_id="m\x00")
        assert (await alice.expect("error"))["code"] == "bad_request"
    messages = f"{API}/channels/{general}/messages"
    posted = await http(port, "POST", messages, token=token, body={"content": "a\x00b"})
    assert posted.status == 400 and "NUL" in posted.json()["error"]["message"]
    created = await http(port, "POST", f"{API}/channels", token=token, body={"name": "x\x00y"})
    assert created.status == 400 and "NUL" in created.json()["error"]["message"]
    admin = on_store.token("root", admin=True)
    banned = await http(port, "PUT", f"{API}/channels/{general}/bans/a%00b", token=admin, body={})
    assert banned.status == 400
    refused = await http(port, "GET", f"{API}/channels", token=on_store.token("a\x00b"))
    assert refused.status == 401  # a user id the store could not hold is a bad token


def _token(**claims: Any) -> str:
    return jwt.encode({"sub": "alice", **claims}, SECRET, algorithm="HS256")


@pytest.mark.parametrize("exp", [2**53, 2**63, 2**64, 10**30, 1e300])
async def test_claims_out_of_range_are_a_bad_token(server: Running, exp: float) -> None:
    token = _token(exp=exp)
    answer = await http(server.port, "GET", f"{API}/channels", token=token)
    assert answer.status == 401 and "'exp'" in answer.json()["error"]["message"]
    async with raw_ws(server.port, f"/ws?token={token}") as raw:
        assert raw.status == 401
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.send(type="refresh", token=token)
        err = await alice.expect("error")
        assert err["code"] == "unauthorized" and "'exp'" in err["error"]
        await alice.send(type="refresh", token=_token(exp=int(time.time()) + 600))
        assert (await alice.expect("refreshed"))["exp"] > time.time()  # the connection lives


async def test_token_errors_are_our_sentences(server: Running) -> None:
    forged = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "another-secret-" * 3)
    answer = await http(server.port, "GET", f"{API}/channels", token=forged)
    message = answer.json()["error"]["message"]
    assert answer.status == 401 and message == "invalid token: the signature does not match"
    garbled = await http(server.port, "GET", f"{API}/channels", token="a.b.c")
    assert garbled.json()["error"]["message"] == "invalid token: not a well-formed JWT"
    unsigned = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, None, algorithm="none")
    none = await http(server.port, "GET", f"{API}/channels", token=unsigned)
    assert none.status == 401 and "algorithm" in none.json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_rest_bodies_must_be_declared_json(server: Running, content_type: str) -> None:
    path = f"{API}/channels/{server.general}/messages"
    headers = {"Content-Type": content_type}  # "" is sent as an empty header
    answer = await http(
        server.port, "POST", path, token=server.token("a"), raw=b'{"content": "x"}', headers=headers
    )
    assert answer.status == 415 and answer.json()["error"]["code"] == "unsupported_media_type"
    typed = {"Content-Type": "application/json; charset=utf-8"}
    ok = await http(
        server.port, "POST", path, token=server.token("a"), raw=b'{"content": "x"}', headers=typed
    )
    assert ok.status == 201
