"""What the terminal client remembers across reconnects: joined channels and the
last seq seen in each (the resume cursor), names, and operations not yet acked."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import trio


def endpoints(url: str) -> tuple[str, str]:
    """(WebSocket URL of /ws, HTTP base URL) from whatever the user typed."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    secure = parts.scheme in ("https", "wss")
    ws = urlunsplit(("wss" if secure else "ws", parts.netloc, "/ws", "", ""))
    http = urlunsplit(("https" if secure else "http", parts.netloc, "", "", ""))
    return ws, http


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class ChatState:
    token: str
    http: str
    current: str | None = None
    # the channel a /join (or --channel) asked for: current once the server says `joined`
    switch_to: str | None = None
    last_seq: dict[str, int | None] = field(default_factory=dict)  # joined channels
    names: dict[str, str] = field(default_factory=dict)  # channel id → name
    users: dict[str, str] = field(default_factory=dict)  # user id → name, as seen
    # message_id → the frame sent (message, edit, delete, react, unreact), resent
    # as it is after a reconnect until acked: the server deduplicates by message_id
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    # channel → (the joined's last_seq, seqs of the messages replayed so far): a
    # replayed message already shows its later events, so those are not printed again
    replay: dict[str, tuple[int, set[int]]] = field(default_factory=dict)
    # read state (SPEC §7): what is printed counts as read; the highest seq printed
    # per channel, and the marker the server last told (its `read` frames)
    printed: dict[str, int] = field(default_factory=dict)
    read_seq: dict[str, int] = field(default_factory=dict)
    printed_more: trio.Event = field(default_factory=trio.Event)

    def label(self, channel_id: str) -> str:
        return "#" + self.names.get(channel_id, channel_id[:8])

    def user(self, user_id: str) -> str:
        return self.users.get(user_id, user_id)

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
