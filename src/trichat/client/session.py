"""The connection loop of `trichat chat`: stdin lines through a bounded memory
channel that outlives reconnects; each connection rejoins every channel with `since`
(the last seq seen, over every entry of the log) and resends what was not acked."""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import urllib.error
from typing import Any

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    open_websocket_url,
)

from trichat.client.commands import HELP, command
from trichat.client.state import ChatState, endpoints, say
from trichat.client.view import show

MAX_BACKOFF = 10.0
READ_EVERY = 1.0  # seconds: at most one `read` per channel this often


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
            nursery.start_soon(_mark_read, state, ws)
        return quit_


async def _mark_read(state: ChatState, ws: Any) -> None:
    """What the terminal printed has been read: move the server's marker up to it,
    at most once a `READ_EVERY` per channel (a busy channel is not a `read` per
    message)."""
    while True:
        await state.printed_more.wait()
        state.printed_more = trio.Event()
        for cid, seq in list(state.printed.items()):
            if seq > state.read_seq.get(cid, -1):
                state.read_seq[cid] = seq
                await ws.send_message(json.dumps({"type": "read", "channel_id": cid, "seq": seq}))
        await trio.sleep(READ_EVERY)  # the throttle itself, not a wait for something


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words: the innermost OSError's."""
    found: BaseException = exc
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            found = seen
        if isinstance(seen, BaseExceptionGroup):  # trio's "all attempts to connect failed"
            seen = seen.exceptions[0]
        else:
            seen = seen.__cause__ or seen.__context__
    if isinstance(found, ConnectionRefusedError):
        return "connection refused (is it running?)"
    if isinstance(found, OSError) and found.strerror:
        return found.strerror
    return str(found) or type(found).__name__


def _refused_token(where: str) -> str:
    return (
        f"! {where} refused the token (HTTP 401: expired, malformed or signed with"
        " another secret): get a fresh one with `trichat token USER`"
    )


async def _channel_names(state: ChatState) -> str | None:
    """Fill state.names from the server; None, or the one line saying why it failed."""
    try:
        listing = await trio.to_thread.run_sync(
            state.rest, "/channels?limit=100", abandon_on_cancel=True
        )
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return _refused_token(state.http)
        return f"! {state.http} answered HTTP {exc.code} {exc.reason}: is it a trichat server?"
    except OSError as exc:
        return f"! cannot reach the server at {state.http}: {_reason(exc)}"
    except ValueError:
        return f"! {state.http} answered something other than JSON: is it a trichat server?"
    state.names = {c["id"]: c["name"] for c in listing["channels"]}
    return None


async def _connect_loop(state: ChatState, ws_url: str) -> int:
    """Sessions until the user quits (0) or the server refuses the token (1)."""
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
            if isinstance(lost, ConnectionRejected) and lost.status_code == 401:
                say(_refused_token(ws_url))
                nursery.cancel_scope.cancel()
                return 1
            if isinstance(lost, ConnectionClosed):
                closed = lost.reason
                why = f"disconnected ({closed.code}{f' {closed.reason}' if closed.reason else ''})"
            else:
                why = f"cannot reach the server at {ws_url}: {_reason(lost)}"
            say(f"! {why}; reconnecting in {backoff:.1f} s")
            await trio.sleep(backoff)  # the backoff itself: nothing to wait on
            backoff = min(backoff * 2, MAX_BACKOFF)
        nursery.cancel_scope.cancel()
    say("* bye")
    return 0


async def _chat(url: str, token: str, channel: str | None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")  # an emoji must not end the client
    ws_url, http = endpoints(url)
    state = ChatState(token=token, http=http)
    failed = await _channel_names(state)
    if failed:
        say(failed)
        return 1
    if channel:
        cid = state.resolve(channel)
        state.last_seq[cid] = None
        state.switch_to = cid
    say(HELP)
    return await _connect_loop(state, ws_url)


async def run_chat(url: str, token: str, channel: str | None) -> int:
    """The client until /quit, end of input, a refused token or Ctrl-C (status 130,
    quietly: SIGINT is received as a signal here, not raised as KeyboardInterrupt)."""
    code = 130
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:

            async def until_interrupted() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()

            nursery.start_soon(until_interrupted)
            code = await _chat(url, token, channel)
            nursery.cancel_scope.cancel()
    return code
