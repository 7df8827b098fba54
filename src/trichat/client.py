"""`trichat chat URL --token T [--channel ID]`: a terminal client on trio-websocket.

Lines typed are sent to the current channel; incoming messages are printed with
time and author. Commands: /join ID|NAME, /leave [ID|NAME], /who, /channels, /quit.
After a drop it reconnects with backoff, rejoins every channel with `since` and
resends unacknowledged messages (the server deduplicates them by message_id).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

HELP = "commands: /join ID|NAME  /leave [ID|NAME]  /who  /channels  /quit"
MAX_BACKOFF = 10.0


def endpoints(url: str) -> tuple[str, str]:
    """(WebSocket URL of /ws, HTTP base URL) from whatever the user typed."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    secure = parts.scheme in ("https", "wss")
    ws = urlunsplit(("wss" if secure else "ws", parts.netloc, "/ws", "", ""))
    http = urlunsplit(("https" if secure else "http", parts.netloc, "", "", ""))
    return ws, http


@dataclass
class ChatState:
    token: str
    http: str
    current: str | None = None
    last_seq: dict[str, int | None] = field(default_factory=dict)  # joined channels
    names: dict[str, str] = field(default_factory=dict)
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)  # mid → (channel, text)

    def label(self, channel_id: str) -> str:
        return "#" + self.names.get(channel_id, channel_id[:8])

    def resolve(self, ref: str) -> str:
        for cid, name in self.names.items():
            if ref in (cid, name, "#" + name):
                return cid
        return ref

    def rest(self, path: str) -> Any:
        request = urllib.request.Request(
            self.http + "/api/v1/chat" + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.load(resp)


def say(text: str) -> None:
    print(text, flush=True)


def _clock(timestamp: str) -> str:
    try:
        return (
            datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            .astimezone()
            .strftime("%H:%M:%S")
        )
    except ValueError:
        return "--:--:--"


def show(state: ChatState, frame: dict[str, Any]) -> None:
    """Print one server frame; keep the resume position."""
    kind, cid = frame.get("type"), frame.get("channel_id", "")
    if kind == "message":
        seen = state.last_seq.get(cid)
        if cid not in state.last_seq or (seen is not None and frame["seq"] <= seen):
            return
        state.last_seq[cid] = frame["seq"]
        state.pending.pop(frame["message_id"], None)
        author = frame.get("display_name") or frame.get("username") or frame["user_id"]
        marker = "*" if frame.get("kind") == "system" else ""
        say(
            f"[{_clock(frame['timestamp'])}] {state.label(cid)} {marker}{author}: "
            f"{frame['content']}"
        )
    elif kind == "joined":
        say(
            f"* joined {state.label(cid)} (last seq {frame['last_seq']}"
            + ("" if frame.get("recovered", True) else "; older messages: page over REST")
            + ")"
        )
    elif kind == "presence":
        say(f"* {frame['username']} {frame['presence_type']} {state.label(cid)}")
    elif kind == "left":
        state.last_seq.pop(cid, None)
        reason = f" ({frame['reason']})" if frame.get("reason") else ""
        say(f"* left {state.label(cid)}{reason}")
        if state.current == cid:
            state.current = next(iter(state.last_seq), None)
    elif kind == "ack":
        state.pending.pop(frame["message_id"], None)
    elif kind == "message_deleted":
        say(f"* message {frame['seq']} in {state.label(cid)} was deleted")
    elif kind == "error":
        if frame.get("message_id") and frame["code"] != "unavailable":
            state.pending.pop(frame["message_id"], None)
        if frame["code"] in ("not_found", "forbidden", "channel_full") and cid:
            state.last_seq.pop(cid, None)
        say(f"! {frame['code']}: {frame['error']}")
    elif kind == "refresh_needed":
        say("! your token expires soon: start again with a fresh one")


async def _command(state: ChatState, ws: Any, line: str) -> bool:
    """Handle one typed line; False means quit."""
    words = line.split()
    cmd = words[0].lower() if words else ""
    if cmd == "/quit":
        return False
    if cmd == "/join" and len(words) == 2:
        cid = state.resolve(words[1])
        state.last_seq.setdefault(cid, None)
        state.current = cid
        await ws.send_message(json.dumps({"type": "join", "channel_id": cid}))
    elif cmd == "/leave":
        cid = state.resolve(words[1]) if len(words) > 1 else state.current
        if cid:
            await ws.send_message(json.dumps({"type": "leave", "channel_id": cid}))
    elif cmd == "/who":
        if state.current is None:
            say("! join a channel first")
        else:
            users = (
                await trio.to_thread.run_sync(state.rest, f"/channels/{state.current}/presence")
            )["users"]
            say(
                f"* in {state.label(state.current)}: "
                + ", ".join(sorted((u["username"] for u in users), key=str.lower))
            )
    elif cmd == "/channels":
        for cid, name in state.names.items():
            say(f"  #{name}  {cid}" + ("  (joined)" if cid in state.last_seq else ""))
    elif cmd.startswith("/"):
        say(HELP)
    elif line.strip():
        if state.current is None:
            say("! join a channel first: /join ID")
            return True
        mid = uuid.uuid4().hex
        state.pending[mid] = (state.current, line)
        await ws.send_message(
            json.dumps(
                {"type": "message", "channel_id": state.current, "content": line, "message_id": mid}
            )
        )
    return True


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
        for mid, (cid, text) in list(state.pending.items()):
            await ws.send_message(
                json.dumps(
                    {"type": "message", "channel_id": cid, "content": text, "message_id": mid}
                )
            )
        quit_ = False
        async with trio.open_nursery() as nursery:

            async def relay_in() -> None:
                while True:
                    show(state, json.loads(await ws.get_message()))

            async def relay_out() -> None:
                nonlocal quit_
                async for line in lines:
                    if line is None or not await _command(state, ws, line):
                        quit_ = True
                        break
                nursery.cancel_scope.cancel()

            nursery.start_soon(relay_in)
            nursery.start_soon(relay_out)
        return quit_


async def run_chat(url: str, token: str, channel: str | None) -> int:
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
