"""Typed lines → frames. A line is a message to the current channel unless it starts
with `/`; the log commands name a message of the current channel by its seq, as
printed in brackets. A command the client cannot make sense of gets one line saying
how to write it, and nothing is sent."""

from __future__ import annotations

import json
import uuid
from typing import Any

import trio

from trichat.client.state import ChatState, say

HELP = (
    "commands: /join ID|NAME  /leave [ID|NAME]  /who  /channels  /help  /quit\n"
    "on message [SEQ] of the current channel: /reply SEQ TEXT  /edit SEQ TEXT  /delete SEQ"
    "  /react SEQ EMOJI  /unreact SEQ EMOJI"
)
# command → (frame type, what follows the seq, usage)
LOG_COMMANDS = {
    "/reply": ("message", "text", "/reply SEQ TEXT"),
    "/edit": ("edit", "text", "/edit SEQ TEXT"),
    "/delete": ("delete", "", "/delete SEQ"),
    "/react": ("react", "emoji", "/react SEQ EMOJI"),
    "/unreact": ("unreact", "emoji", "/unreact SEQ EMOJI"),
}


def log_frame(cmd: str, line: str, channel_id: str) -> dict[str, Any] | str:
    """The frame for a log command, or the line telling how to write it."""
    kind, arg, usage = LOG_COMMANDS[cmd]
    words = line.split(None, 2)
    ref = words[1].strip("[]") if len(words) > 1 else ""
    rest = words[2].strip() if len(words) > 2 else ""
    if not (ref.isascii() and ref.isdigit() and int(ref) > 0):
        return f"! usage: {usage} (SEQ: the number in brackets before a message)"
    spaced = any(c.isspace() for c in rest)
    if bool(rest) != bool(arg) or (arg == "emoji" and spaced):
        return f"! usage: {usage}"
    frame: dict[str, Any] = {"type": kind, "channel_id": channel_id}
    if cmd == "/reply":
        frame.update(content=rest, parent_seq=int(ref))
    else:
        frame["target_seq"] = int(ref)
        if arg:
            frame["content" if arg == "text" else "emoji"] = rest
    return frame


async def send_op(state: ChatState, ws: Any, frame: dict[str, Any]) -> None:
    """Send a log operation with a fresh message_id; kept until acked, for resending."""
    mid = uuid.uuid4().hex
    frame["message_id"] = mid
    state.pending[mid] = frame
    await ws.send_message(json.dumps(frame))


async def _who(state: ChatState) -> None:
    if state.current is None:
        say("! join a channel first")
        return
    path = f"/channels/{state.current}/presence"
    users = (await trio.to_thread.run_sync(state.rest, path, abandon_on_cancel=True))["users"]
    say(
        f"* in {state.label(state.current)}: "
        + ", ".join(sorted((u["username"] for u in users), key=str.lower))
    )


async def _list_channels(state: ChatState) -> None:
    """Every channel the user may see, with what is unread in it (fresh from the
    server: the counts are exact, the same on every device)."""
    listing = await trio.to_thread.run_sync(
        state.rest, "/channels?limit=100", abandon_on_cancel=True
    )
    for channel in listing["channels"]:
        cid, name = channel["id"], channel["name"]
        state.names[cid] = name
        joined = "  (joined)" if cid in state.last_seq else ""
        unread = f"  {channel['unread']} unread" if channel.get("unread") else ""
        say(f"  #{name}  {cid}{joined}{unread}")


async def _channels_command(state: ChatState, ws: Any, cmd: str, words: list[str]) -> bool:
    """/join, /leave, /channels; False when `cmd` is none of them."""
    if cmd == "/join" and len(words) == 2:
        cid = state.resolve(words[1])
        state.last_seq.setdefault(cid, None)
        state.switch_to = cid  # current once `joined` comes back (view.py)
        await ws.send_message(json.dumps({"type": "join", "channel_id": cid}))
    elif cmd == "/join":
        say("! usage: /join ID|NAME")
    elif cmd == "/leave":
        cid = state.resolve(words[1]) if len(words) > 1 else state.current
        if cid:
            await ws.send_message(json.dumps({"type": "leave", "channel_id": cid}))
    elif cmd == "/channels":
        await _list_channels(state)
    else:
        return False
    return True


async def command(state: ChatState, ws: Any, line: str) -> bool:
    """Handle one typed line; False means quit."""
    words = line.split()
    cmd = words[0].lower() if words else ""
    if cmd == "/quit":
        return False
    if await _channels_command(state, ws, cmd, words):
        return True
    if cmd == "/who":
        await _who(state)
    elif cmd == "/help":
        say(HELP)
    elif cmd.startswith("/") and cmd not in LOG_COMMANDS:
        say(f"! unknown command {words[0]}\n{HELP}")
    elif line.strip():
        if state.current is None:
            say("! join a channel first: /join ID|NAME")
            return True
        frame = (
            log_frame(cmd, line, state.current)
            if cmd in LOG_COMMANDS
            else {"type": "message", "channel_id": state.current, "content": line}
        )
        if isinstance(frame, str):
            say(frame)
        else:
            await send_op(state, ws, frame)
    return True
