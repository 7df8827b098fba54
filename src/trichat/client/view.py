"""Server frames as lines of text, and the resume cursor they move.

Every line about a message names it by its seq in brackets (`[12]`), the number the
commands take. The channel log (SPEC §6) is printed as it comes: a message, then a
line per edit, deletion or reaction change of a message, replies marked `↳ROOT`.
A terminal cannot redraw a line, so a replayed message is printed in its current
state and the replayed events it already shows are not printed again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trichat.client.state import ChatState, say

LOG_EVENTS = frozenset(
    ("message", "message_edited", "message_deleted", "reaction_added", "reaction_removed")
)
NO_CLOCK = " " * 10  # events carry no time of their own: keep the columns


def _clock(timestamp: str | None) -> str:
    try:
        when = datetime.fromisoformat((timestamp or "").replace("Z", "+00:00"))
    except ValueError:
        return "[--:--:--]"
    return when.astimezone().strftime("[%H:%M:%S]")


def message_line(state: ChatState, frame: dict[str, Any]) -> str:
    """`[05:00:09] #general [15] ↳12 bob (edited): text  👍 2  (3 replies)`."""
    head = f"{_clock(frame.get('timestamp'))} {state.label(frame['channel_id'])} [{frame['seq']}]"
    if frame.get("parent_seq") is not None:
        head += f" ↳{frame['parent_seq']}"
    if frame.get("deleted"):
        return f"{head} (deleted)"
    marker = "*" if frame.get("kind") == "system" else ""
    edited = " (edited)" if frame.get("edited_at") else ""
    line = f"{head} {marker}{state.user(frame['user_id'])}{edited}: {frame['content']}"
    reactions = frame.get("reactions") or []
    if reactions:
        line += "  " + " ".join(f"{r['emoji']} {r['count']}" for r in reactions)
    replies = frame.get("reply_count") or 0
    if replies:
        line += f"  ({replies} repl{'y' if replies == 1 else 'ies'})"
    return line


def event_line(state: ChatState, frame: dict[str, Any]) -> str:
    """An edit, a deletion or a reaction change, on the line of the message it changes."""
    kind, who = frame["type"], state.user(frame["user_id"])
    where = f"{state.label(frame['channel_id'])} [{frame['target_seq']}]"
    if kind == "message_edited":
        return f"{_clock(frame.get('edited_at'))} {where} {who} (edited): {frame['content']}"
    if kind == "message_deleted":
        return f"{NO_CLOCK} {where} (deleted by {who})"
    removed = " removed" if kind == "reaction_removed" else ""
    return f"{NO_CLOCK} {where} {frame['emoji']} {frame['count']} ({who}{removed})"


def _log_entry(state: ChatState, frame: dict[str, Any]) -> None:
    """Advance the cursor on every entry of the log, print each once."""
    cid, seq = frame["channel_id"], frame["seq"]
    seen = state.last_seq.get(cid)
    if cid not in state.last_seq or (seen is not None and seq <= seen):
        return
    state.last_seq[cid] = seq
    state.printed[cid] = seq  # shown: read (session.py tells the server)
    state.printed_more.set()
    replay = state.replay.get(cid)
    if replay is not None and seq > replay[0]:
        del state.replay[cid]
        replay = None
    if frame["type"] == "message":
        state.pending.pop(frame.get("message_id", ""), None)
        state.users[frame["user_id"]] = (
            frame.get("display_name") or frame.get("username") or frame["user_id"]
        )
        if replay is not None:
            replay[1].add(seq)
        say(message_line(state, frame))
    elif replay is None or frame["target_seq"] not in replay[1]:
        say(event_line(state, frame))


def _ack(state: ChatState, frame: dict[str, Any]) -> None:
    sent = state.pending.pop(frame.get("message_id", ""), None)
    if sent is not None and frame.get("seq") is None and sent["type"] in ("react", "unreact"):
        where = f"{state.label(sent['channel_id'])} [{sent['target_seq']}]"
        if sent["type"] == "react":
            say(f"* {where} already has your {sent['emoji']}")
        else:
            say(f"* {where} has no {sent['emoji']} of yours")


def _error(state: ChatState, frame: dict[str, Any]) -> None:
    """One line naming what was refused; a refused join leaves the channel."""
    code, cid, mid = frame["code"], frame.get("channel_id"), frame.get("message_id")
    sent = state.pending.get(mid or "")
    if mid and code != "unavailable":
        state.pending.pop(mid, None)
    if mid is None and code in ("not_found", "forbidden", "channel_full") and cid:
        state.last_seq.pop(cid, None)  # only a join is refused without a message_id
        if state.switch_to == cid:
            state.switch_to = None  # the current channel stays what it was
    what = ""
    if sent is not None and "target_seq" in sent:
        what = f"/{sent['type']} {sent['target_seq']}: "
    elif sent is not None and sent.get("parent_seq") is not None:
        what = f"/reply {sent['parent_seq']}: "
    say(f"! {what}{code}: {frame['error']}")


def _joined(state: ChatState, frame: dict[str, Any]) -> None:
    cid = frame["channel_id"]
    state.replay[cid] = (frame["last_seq"], set())
    if state.switch_to == cid:
        state.current, state.switch_to = cid, None
    if frame.get("read_seq") is not None:
        state.read_seq[cid] = max(state.read_seq.get(cid, 0), frame["read_seq"])
    unread = f"; {frame['unread']} unread" if frame.get("unread") else ""
    say(
        f"* joined {state.label(cid)} (last seq {frame['last_seq']}{unread}"
        + ("" if frame.get("recovered", True) else "; older messages: page over REST")
        + ")"
    )


def _read(state: ChatState, frame: dict[str, Any]) -> None:
    """Our marker moved (from this or another device): remember it, quietly.
    Another member's receipt (no `unread`) prints nothing either."""
    if "unread" in frame:
        cid = frame["channel_id"]
        state.read_seq[cid] = max(state.read_seq.get(cid, 0), frame["seq"])


def _left(state: ChatState, frame: dict[str, Any]) -> None:
    cid = frame["channel_id"]
    state.last_seq.pop(cid, None)
    state.replay.pop(cid, None)
    reason = f" ({frame['reason']})" if frame.get("reason") else ""
    say(f"* left {state.label(cid)}{reason}")
    if state.current == cid:
        state.current = next(iter(state.last_seq), None)


def _presence(state: ChatState, frame: dict[str, Any]) -> None:
    state.users.setdefault(frame["user_id"], frame["username"])
    say(f"* {frame['username']} {frame['presence_type']} {state.label(frame['channel_id'])}")


def show(state: ChatState, frame: dict[str, Any]) -> None:
    """Print one server frame; keep the resume position."""
    kind = frame.get("type")
    if kind in LOG_EVENTS:
        _log_entry(state, frame)
    elif kind == "joined":
        _joined(state, frame)
    elif kind == "presence":
        _presence(state, frame)
    elif kind == "left":
        _left(state, frame)
    elif kind == "ack":
        _ack(state, frame)
    elif kind == "error":
        _error(state, frame)
    elif kind == "read":
        _read(state, frame)
    elif kind == "refresh_needed":
        say("! your token expires soon: start again with a fresh one")
