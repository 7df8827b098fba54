"""`trichat chat URL --token T [--channel ID]`: a terminal client on trio-websocket.

Lines typed are sent to the current channel; incoming messages are printed with
time, channel, seq and author, and the channel log's edits, deletions, reactions and
replies as lines of their own (view.py). Commands (commands.py): /join ID|NAME,
/leave [ID|NAME], /who, /channels, /reply, /edit, /delete, /react, /unreact, /help,
/quit. After a drop it reconnects with backoff, rejoins every channel with `since`
and resends every unacknowledged operation (session.py; the server deduplicates
them by message_id). A channel becomes the current one when the server confirms the
join. A refused token (HTTP 401) ends it with status 1, as does a server it cannot
reach at start; Ctrl-C ends it quietly with status 130.
"""

from trichat.client.session import run_chat

__all__ = ["run_chat"]
