"""The connection loop of `trichat chat`: stdin lines through a bounded memory
channel that outlives reconnects; each connection rejoins every channel with `since`
(the last seq seen, over every entry of the log) and resends what was not acked."""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from trichat.client.commands import HELP, command
from trichat.client.state import ChatState, endpoints, say
from trichat.client.view import show

MAX_BACKOFF = 10.0


async def _read_lines(send: trio.MemorySendChannel[str | None]) -> None:
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buf = b""
    async with stdin, send:
        while True:
            data = await stdin.receive_some(4096)
            if not data:
                await send.send(None)
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                await send.send(line.decode(errors="replace").rstrip("\r"))


async def _session(
    state: ChatState, ws_url: str, lines: trio.MemoryReceiveChannel[str | None]
) -> bool:
    """One connection: rejoin, resend, then relay. True when the user quit."""
    async with open_websocket_url(f"{ws_url}?token={state.token}", message_queue_size=1000) as ws:
        for cid, seq in state.last_seq.items():
            frame: dict[str, Any] = {"type": "join", "channel_id": cid}
            if seq is not None:
                frame["since"] = seq
            await ws.send_message(json.dumps(frame))
        for frame in list(state.pending.values()):
            await ws.send_message(json.dumps(frame))
        quit_ = False
        async with trio.open_nursery() as nursery:

            async def relay_in() -> None:
                while True:
                    show(state, json.loads(await ws.get_message()))

            async def relay_out() -> None:
                nonlocal quit_
                async for line in lines:
                    if line is None or not await command(state, ws, line):
                        quit_ = True
                        break
                nursery.cancel_scope.cancel()

            nursery.start_soon(relay_in)
            nursery.start_soon(relay_out)
        return quit_


async def run_chat(url: str, token: str, channel: str | None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")  # an emoji must not end the client
    ws_url, http = endpoints(url)
    state = ChatState(token=token, http=http)
    try:
        listing = await trio.to_thread.run_sync(state.rest, "/channels?limit=100")
    except OSError as exc:
        say(f"! cannot reach {http}: {exc}")
        return 1
    state.names = {c["id"]: c["name"] for c in listing["channels"]}
    if channel:
        cid = state.resolve(channel)
        state.last_seq[cid] = None
        state.current = cid
    say(HELP)
    send, lines = trio.open_memory_channel[str | None](100)
    backoff = 0.5
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_read_lines, send)
        while True:
            lost: BaseException | None = None
            try:
                if await _session(state, ws_url, lines):
                    break
            except* (ConnectionClosed, HandshakeError, OSError) as group:
                lost = group.exceptions[0]
            if lost is None:
                backoff = 0.5
                continue
            say(f"! disconnected ({type(lost).__name__}); reconnecting in {backoff:.1f} s")
            await trio.sleep(backoff)  # the backoff itself: nothing to wait on
            backoff = min(backoff * 2, MAX_BACKOFF)
        nursery.cancel_scope.cancel()
    say("* bye")
    return 0
