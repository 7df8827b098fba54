"""Fault and abuse probes kept as tests (issue 14): forged tokens, a slowloris head,
a ping flood, readers that never read, a thousand joins, two thousand connections.
Each is bounded in time so that a regression fails instead of hanging."""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import os
import time
from typing import Any

import jwt
import orjson
import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.conftest import SECRET, Running, StartServer
from tests.helpers.client import Ws, http, poll_health, ws_connect
from tests.helpers.rawws import RawWs, client_frame, raw_ws
from trichat.auth import mint

# ---- 1. forged tokens ------------------------------------------------------------
# alg=none on the default HS256 server is test_front_door.test_alg_none_is_refused.


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _forge(alg: str, claims: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A JWT with header `alg`, HMAC-SHA256-signed with `hmac_key` (none: no signature),
    made by hand: PyJWT itself refuses to use a PEM key as an HMAC secret."""
    signing = _b64(orjson.dumps({"alg": alg, "typ": "JWT"})) + b"." + _b64(orjson.dumps(claims))
    sig = b"" if hmac_key is None else hmac.new(hmac_key, signing, hashlib.sha256).digest()
    return (signing + b"." + _b64(sig)).decode()


async def _statuses(server: Running, token: str) -> tuple[int, int]:
    """(WebSocket upgrade status, REST status) for `token`."""
    with trio.fail_after(10):
        async with raw_ws(server.port, f"/ws?token={token}") as raw:
            upgrade = raw.status
    rest = await http(server.port, "GET", "/api/v1/chat/channels", token=token)
    return upgrade, rest.status


def _claims() -> dict[str, Any]:
    return {"sub": "mallory", "exp": int(time.time()) + 300}


async def test_rs256_server_refuses_key_confusion_and_none(start_server: StartServer) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = public.public_bytes(serialization.Encoding.PEM, spki)
    der = public.public_bytes(serialization.Encoding.DER, spki)
    server = await start_server(jwt_secret=None, jwt_public_key=pem.decode())
    claims = _claims()
    good = jwt.encode(claims, private, algorithm="RS256")
    assert await _statuses(server, good) == (101, 200)  # the key really is in force
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        "hs256-pem-secret": _forge("HS256", claims, pem),
        "hs256-pem-stripped": _forge("HS256", claims, pem.strip()),
        "hs256-der-secret": _forge("HS256", claims, der),
        "none": _forge("none", claims),
        "None": _forge("None", claims),
        "rs256-other-key": jwt.encode(claims, other, algorithm="RS256"),
    }
    got = {name: await _statuses(server, token) for name, token in forged.items()}
    assert got == dict.fromkeys(forged, (401, 401))


async def test_hs256_server_refuses_asymmetric_tokens(server: Running) -> None:
    claims = _claims()
    assert await _statuses(server, mint(SECRET, "mallory")) == (101, 200)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    forged = {
        "rs256": jwt.encode(claims, rsa_key, algorithm="RS256"),
        "es256": jwt.encode(claims, ec_key, algorithm="ES256"),
        "rs256-header-hmac-signed": _forge("RS256", claims, SECRET.encode()),
        "NONE": _forge("NONE", claims),
    }
    got = {name: await _statuses(server, token) for name, token in forged.items()}
    assert got == dict.fromkeys(forged, (401, 401))


# ---- 2. slowloris on the request head ----------------------------------------------
# A silent connection and a partial head sent at once are in test_front_door; here the
# head trickles in a byte at a time, each byte well within the timeout.

HANDSHAKE = 0.5
GAP = 0.05  # seconds between bytes: the whole head would take ~15 s


def _upgrade_head(server: Running, user: str) -> bytes:
    return (
        f"GET /ws?token={server.token(user)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _trickle(port: int, head: bytes) -> float:
    """Send `head` a byte every GAP seconds; seconds until the server drops us."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    started = trio.current_time()
    async with stream:
        try:
            for byte in head:
                await stream.send_all(bytes([byte]))
                with trio.move_on_after(GAP):  # pacing, and watching for the drop
                    while await stream.receive_some(4096):
                        pass
                    return trio.current_time() - started
        except (trio.BrokenResourceError, ConnectionError):
            return trio.current_time() - started
    raise AssertionError(f"a {len(head)}-byte head trickled over {GAP * len(head):.0f} s")


async def test_trickled_head_is_dropped_and_others_still_chat(start_server: StartServer) -> None:
    server = await start_server(handshake_timeout=HANDSHAKE)
    with trio.fail_after(5):
        alone = await _trickle(server.port, _upgrade_head(server, "loris"))
    assert HANDSHAKE * 0.8 <= alone <= HANDSHAKE + 2.0
    attackers, open_now = 20, [0]
    drops: list[tuple[int, float]] = []  # (attacker, seconds until dropped)
    all_dropped = trio.Event()

    async def attack(k: int) -> None:
        while True:  # keep one slow connection open at all times
            open_now[0] += 1
            drops.append((k, await _trickle(server.port, _upgrade_head(server, f"loris{k}"))))
            open_now[0] -= 1
            if len({who for who, _ in drops}) == attackers:
                all_dropped.set()

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for k in range(attackers):
                nursery.start_soon(attack, k)
            await trio.sleep(HANDSHAKE / 2)  # load shape: the attackers are mid-head
            async with (
                ws_connect(server.ws_url("alice")) as alice,
                ws_connect(server.ws_url("bob")) as bob,
            ):
                await alice.join(server.general)
                await bob.join(server.general)
                ack = await alice.say(server.general, "through the slowloris")
                got = await bob.expect("message", seq=ack["seq"])
                assert got["content"] == "through the slowloris"
                assert open_now[0] >= attackers // 2  # chatted while they were open
            await all_dropped.wait()
            nursery.cancel_scope.cancel()
    assert max(took for _, took in drops) <= HANDSHAKE + 2.0


# ---- 3. a ping flood ---------------------------------------------------------------
# One ping answered is test_close_codes.test_ping_from_client_gets_pong.


async def test_twenty_thousand_pings(server: Running) -> None:
    total, batch = 20_000, 500
    pongs: list[int] = []
    halfway = trio.Event()
    async with (
        raw_ws(server.port, f"/ws?token={server.token('pinger')}") as raw,
        ws_connect(server.ws_url("other")) as other,
    ):
        assert raw.status == 101
        await raw.send_json({"type": "join", "channel_id": server.general})
        await other.join(server.general)

        async def flood() -> None:
            for start in range(0, total, batch):
                frames = (
                    client_frame(0x9, n.to_bytes(4, "big")) for n in range(start, start + batch)
                )
                await raw.stream.send_all(b"".join(frames))
                if start >= total // 2:
                    halfway.set()

        async def read_pongs() -> None:
            while not pongs or pongs[-1] != total - 1:
                opcode, payload = await raw.recv_frame()
                assert opcode != 0x8, f"closed during the flood: {payload!r}"
                if opcode == 0xA:
                    pongs.append(int.from_bytes(payload, "big"))

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(flood)
                nursery.start_soon(read_pongs)
                await halfway.wait()
                with trio.fail_after(3):  # another client is served mid-flood
                    await other.say(server.general, "mid-flood")
            # RFC 6455 §5.5.3 lets a server answer only the latest of a burst of pings:
            # trichat answers the last of each read (500 pings a write here)
            assert pongs == sorted(set(pongs)) and pongs[-1] == total - 1
            assert len(pongs) <= total // 10
            await raw.send_json({"type": "message", "channel_id": server.general, "content": "hi"})
            while (frame := await raw.recv_json())["type"] != "ack":
                assert frame["type"] != "error", frame
            assert (await other.expect("message", user_id="pinger"))["content"] == "hi"


# ---- 4. readers that never read ----------------------------------------------------
# test_close_codes.test_slow_consumer_closed_1013_others_unaffected has one stalled
# reader found by its queue; here three at once, by queue or by write timeout, with a
# bound on everyone else's latency.


@pytest.mark.parametrize(
    ("send_queue", "write_timeout", "close"),
    [(16, 10.0, 1013), (100_000, 2.0, None)],
    ids=["queue-full-1013", "write-timeout-dropped"],
)
async def test_readers_that_never_read_hurt_only_themselves(
    start_server: StartServer, send_queue: int, write_timeout: float, close: int | None
) -> None:
    server = await start_server(
        send_queue=send_queue,
        write_timeout=write_timeout,
        rate_limit_per_minute=100_000,
        max_content_chars=2000,
        sqlite_sync="normal",
    )
    total, latencies = 200, list[float]()
    stalled = [
        await RawWs.connect(server.port, f"/ws?token={server.token(f'stall{k}')}", rcvbuf=4096)
        for k in range(3)
    ]
    try:
        for raw in stalled:
            await raw.send_json({"type": "join", "channel_id": server.general})
            with trio.fail_after(5):
                assert (await raw.recv_json())["type"] == "joined"
        async with (
            ws_connect(server.ws_url("reader")) as reader,
            ws_connect(server.ws_url("sender")) as sender,
        ):
            await reader.join(server.general)
            await sender.join(server.general)
            with trio.fail_after(30):
                for k in range(total):
                    started = trio.current_time()
                    ack = await sender.say(server.general, f"{k:04d} " + "y" * 1500)
                    await reader.expect("message", seq=ack["seq"])
                    latencies.append(trio.current_time() - started)
                if close is not None:  # read now: the close frame follows the queued ones
                    for raw in stalled:
                        assert await raw.recv_close() == close
            await poll_health(server.port, lambda h: h["connections"] == 2)
            assert max(latencies) < write_timeout / 2  # nobody waited for the stalled
            ack = await sender.say(server.general, "after")
            assert (await reader.expect("message", seq=ack["seq"]))["content"] == "after"
    finally:
        for raw in stalled:
            await raw.aclose()
    metrics = (await http(server.port, "GET", "/metrics")).body.decode()
    kind = "slow_consumer" if close else "write_timeout"
    assert f'websocket_errors_total{{type="{kind}"}} 3.0' in metrics


# ---- 5. a thousand joins on one connection -----------------------------------------


async def _pipelined(ws: Ws, frames: list[dict[str, Any]], answers: list[str]) -> None:
    """Send `frames` without waiting, then take one answer of each listed type."""
    for frame in frames:
        await ws.send(**frame)
    for type_ in answers:
        await ws.expect(type_)


async def test_a_thousand_joins_on_one_connection(start_server: StartServer) -> None:
    server = await start_server(sqlite_sync="normal")
    general, cycles, rejoins = server.general, 500, 500
    join = {"type": "join", "channel_id": general}
    leave = {"type": "leave", "channel_id": general}
    with trio.fail_after(40):
        async with (
            ws_connect(server.ws_url("watcher")) as watcher,
            ws_connect(server.ws_url("joiner")) as joiner,
        ):
            await watcher.join(general)
            for _ in range(0, cycles, 50):  # join/leave cycles, and one leave too many
                await _pipelined(joiner, [join, leave] * 50 + [leave], ["joined", "left"] * 50)
                err = await joiner.expect("error")
                assert (err["code"], err["channel_id"]) == ("not_joined", general)
            for _ in range(0, rejoins, 50):  # the same channel, joined again and again
                await _pipelined(joiner, [join] * 50, ["joined"] * 50)
            first = await joiner.say(general, "still usable")
            second = await joiner.say(general, "and again")
            await watcher.expect("message", seq=second["seq"])
            await joiner.expect("message", seq=second["seq"])
            mine = [f["seq"] for f in joiner.seen if f["type"] == "message"]
            assert mine == [first["seq"], second["seq"]]  # once each: no stale attachment
            errors = [f for f in joiner.seen if f["type"] == "error"]
            assert len(errors) == cycles // 50  # only the expected not_joined ones
            path = f"/api/v1/chat/channels/{general}/presence"
            resp = await http(server.port, "GET", path, token=server.token("watcher"))
            assert sorted(u["user_id"] for u in resp.json()["users"]) == ["joiner", "watcher"]
            health = (await http(server.port, "GET", "/api/v1/chat/health")).json()
            assert (health["connections"], health["channels"]) == (2, 1)
            flips = [
                f["presence_type"]
                for f in watcher.seen
                if f["type"] == "presence" and f["user_id"] == "joiner"
            ]
    assert flips[: 2 * cycles] == ["joined", "left"] * cycles  # a pair per cycle
    # a join of a channel already joined is no leave (SPEC §3 presence: sent when the
    # user's first connection joins and when their last one leaves)
    extra = flips[2 * cycles :]
    assert extra == ["joined"], f"{rejoins - 1} re-joins: {len(extra) - 1} presence events"


# ---- 6. two thousand connections: no leak ------------------------------------------


FD_SLACK = 5


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def _one(server: Running, k: int, opened: list[int], all_open: trio.Event, n: int) -> None:
    """Open one connection of a mix (clean WebSocket, dropped WebSocket, HTTP request
    kept alive, abandoned head), wait until the whole batch is open, close it."""
    kind = k % 4
    if kind in (0, 1):
        raw = await RawWs.connect(server.port, f"/ws?token={server.token(f'leak{k % 40}')}")
        assert raw.status == 101
        await raw.send_json({"type": "join", "channel_id": server.general})
        assert (await raw.recv_json())["type"] == "joined"
        stream = raw.stream
    else:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        data = b"GET /api/v1/chat/health HTTP/1.1\r\nHost: x\r\n\r\n" if kind == 2 else b"GET /"
        await stream.send_all(data)
        if kind == 2:
            assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 200")
    opened[0] += 1
    if opened[0] == n:
        all_open.set()
    await all_open.wait()
    if kind == 0:  # a polite close: close frame, the server's answer, then FIN
        await raw.send_frame(0x8, (1000).to_bytes(2, "big"))
        assert await raw.recv_close() == 1000
    await stream.aclose()


def _idle(health: dict[str, Any]) -> bool:
    """No session, no channel in use, no HTTP connection but the probe's own."""
    return (health["connections"], health["http_connections"], health["channels"]) == (0, 1, 0)


async def test_two_thousand_connections_leak_nothing(server: Running) -> None:
    batch, batches = 100, 20

    async def run_batch() -> None:
        opened, all_open = [0], trio.Event()
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for k in range(batch):
                    nursery.start_soon(_one, server, k, opened, all_open, batch)

    await run_batch()  # warm-up: caches, thread pool, first allocations
    await poll_health(server.port, _idle)
    gc.collect()
    fds, rss = _fds(), _rss_mb()
    for _ in range(batches):
        await run_batch()
        # back to idle, and the descriptors of both ends closed (a small slack)
        await poll_health(server.port, lambda h: _idle(h) and _fds() <= fds + FD_SLACK)
    gc.collect()
    assert _fds() <= fds + FD_SLACK
    assert _rss_mb() - rss < 30, f"RSS grew from {rss:.0f} MB to {_rss_mb():.0f} MB"
