"""`trichat chat` and the channel log (SPEC §6): the real client process against a
real server; what its commands send, what it prints of edits, deletions, reactions
and replies, its one-line answers to bad commands and refusals, and its resending
of unacked operations after a network drop."""

from __future__ import annotations

from typing import Any

import trio

from tests.conftest import StartServer
from tests.helpers.client import ws_connect
from tests.integration.test_terminal_client import terminal

LOG = ("message", "message_edited", "message_deleted", "reaction_added", "reaction_removed")
EMOJI = "😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗🤩"  # 21 distinct, one code point each


def log_entries(frames: list[dict[str, Any]], user_id: str) -> list[str]:
    """The types of the log entries by `user_id` among `frames`."""
    return [f["type"] for f in frames if f["type"] in LOG and f.get("user_id") == user_id]


async def test_log_commands_send_frames_and_print_the_log(start_server: StartServer) -> None:
    server = await start_server()
    url = f"http://127.0.0.1:{server.port}"
    async with (
        terminal(url, server.token("alice"), server.general) as term,
        ws_connect(server.ws_url("bob", username="Bob")) as bob,
    ):
        await term.wait_for("* joined #general")
        await bob.join(server.general)
        await term.type("first")
        first = (await bob.expect("message", user_id="alice", content="first"))["seq"]
        await term.wait_for(f"#general [{first}] alice: first")

        await term.type(f"/edit {first} first,  edited")
        edited = await bob.expect("message_edited", target_seq=first, user_id="alice")
        assert edited["content"] == "first,  edited"
        await term.wait_for(f"#general [{first}] alice (edited): first,  edited")

        await term.type(f"/react {first} 👍")
        await bob.expect("reaction_added", target_seq=first, emoji="👍", count=1)
        await term.wait_for(f"#general [{first}] 👍 1 (alice)")
        await term.type(f"/react [{first}] 👍")  # held already: acked with seq null
        await term.wait_for(f"* #general [{first}] already has your 👍")
        await term.type(f"/unreact {first} 👍")
        await bob.expect("reaction_removed", target_seq=first, emoji="👍", count=0)
        await term.wait_for(f"#general [{first}] 👍 0 (alice removed)")
        await term.type(f"/unreact {first} 👍")
        await term.wait_for(f"* #general [{first}] has no 👍 of yours")

        await term.type(f"/reply {first} in the thread")
        reply = await bob.expect("message", parent_seq=first)
        assert reply["content"] == "in the thread"
        await term.wait_for(f"#general [{reply['seq']}] ↳{first} alice: in the thread")

        await term.type(f"/delete {first}")
        deleted = await bob.expect("message_deleted", target_seq=first, user_id="alice")
        await term.wait_for(f"#general [{first}] (deleted by alice)")
        # every entry moved the cursor: nothing was printed twice, and the next
        # message follows the deletion's seq
        await term.type("after")
        after = await bob.expect("message", user_id="alice", content="after")
        assert after["seq"] == deleted["seq"] + 1
        await term.wait_for(f"[{after['seq']}] alice: after")
        assert term.count("(edited)") == 1 and term.count("(deleted by") == 1


async def test_what_others_do_to_the_log_is_printed(start_server: StartServer) -> None:
    server = await start_server()
    url = f"http://127.0.0.1:{server.port}"
    general = server.general
    async with (
        terminal(url, server.token("alice"), general) as term,
        ws_connect(server.ws_url("bob", username="Bob")) as bob,
    ):
        await term.wait_for("* joined #general")
        await bob.join(general)
        root = (await bob.say(general, "from bob"))["seq"]
        await term.wait_for(f"#general [{root}] Bob: from bob")
        await bob.send(
            type="edit", channel_id=general, target_seq=root, content="bob, again", message_id="e"
        )
        await term.wait_for(f"#general [{root}] Bob (edited): bob, again")
        await bob.send(type="react", channel_id=general, target_seq=root, emoji="❤️", message_id="r")
        await term.wait_for(f"#general [{root}] ❤️ 1 (Bob)")
        await bob.send(type="message", channel_id=general, content="a reply", parent_seq=root)
        reply = (await bob.expect("message", parent_seq=root))["seq"]
        await term.wait_for(f"#general [{reply}] ↳{root} Bob: a reply")
        await bob.send(type="unreact", channel_id=general, target_seq=root, emoji="❤️")
        await term.wait_for(f"#general [{root}] ❤️ 0 (Bob removed)")
        await bob.send(type="delete", channel_id=general, target_seq=root, message_id="d")
        await term.wait_for(f"#general [{root}] (deleted by Bob)")

        # refusals: one line naming the command, and the channel stays joined
        await term.type(f"/edit {reply} not mine")
        await term.wait_for(f"! /edit {reply}: forbidden: ")
        await term.type("/delete 9999")
        await term.wait_for("! /delete 9999: not_found: ")
        await term.type(f"/reply {reply} a reply to a reply")
        await term.wait_for(f"! /reply {reply}: bad_request: ")
        await term.type("still here")
        await bob.expect("message", user_id="alice", content="still here")
        await term.wait_for("alice: still here")


async def test_too_many_reactions_is_one_line(start_server: StartServer) -> None:
    server = await start_server(rate_limit_per_minute=1000)
    async with terminal(
        f"http://127.0.0.1:{server.port}", server.token("alice"), server.general
    ) as term:
        await term.wait_for("* joined #general")
        await term.type("react to me")
        out = await term.wait_for("alice: react to me")
        seq = int(out.rsplit("] alice: react to me", 1)[0].rsplit("[", 1)[1])
        for emoji in EMOJI:
            await term.type(f"/react {seq} {emoji}")
        await term.wait_for(f"! /react {seq}: too_many_reactions: ")
        await term.wait_for(f"[{seq}] {EMOJI[19]} 1 (alice)")
        assert term.count(f"[{seq}] {EMOJI[20]} 1") == 0


async def test_bad_commands_get_a_line_and_send_nothing(start_server: StartServer) -> None:
    server = await start_server()
    url = f"http://127.0.0.1:{server.port}"
    async with (
        terminal(url, server.token("alice"), server.general) as term,
        ws_connect(server.ws_url("bob")) as bob,
    ):
        await term.wait_for("* joined #general")
        await bob.join(server.general)
        mark = (await bob.say(server.general, "mark"))["seq"]
        await term.wait_for(f"[{mark}] bob: mark")
        for line, answer in [
            ("/edit", "! usage: /edit SEQ TEXT (SEQ: the number in brackets"),
            ("/edit twelve new text", "! usage: /edit SEQ TEXT (SEQ"),
            ("/reply 0 hi", "! usage: /reply SEQ TEXT (SEQ"),
            (f"/edit {mark}", "! usage: /edit SEQ TEXT\n"),
            (f"/delete {mark} now", "! usage: /delete SEQ\n"),
            (f"/react {mark}", "! usage: /react SEQ EMOJI\n"),
            (f"/unreact {mark} 👍 👎", "! usage: /unreact SEQ EMOJI\n"),
            ("/frobnicate 3", "! unknown command /frobnicate\ncommands: "),
        ]:
            await term.type(line)
            await term.expect(answer)
        await term.type("/help")
        await term.expect("commands: /join ID|NAME")
        await term.expect("/edit SEQ TEXT  /delete SEQ  /react SEQ EMOJI  /unreact SEQ EMOJI\n")
        await term.type("next")
        got = await bob.expect("message", user_id="alice", content="next")
        assert got["seq"] == mark + 1  # none of the bad commands reached the server
        assert log_entries(bob.seen, "alice") == ["message"]


class Cuttable:
    """A TCP relay in front of the server that can swallow what passes (what the
    client sends, and what it would receive) and then drop the connection: a network
    drop at a chosen moment."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.holding: set[bool] = set()  # True: client → server, False: server → client
        self.scopes: list[trio.CancelScope] = []

    async def serve(self, task_status: trio.TaskStatus[None]) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._relay, listeners)

    async def _relay(self, client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream("127.0.0.1", self.target)
        async with client, server, trio.open_nursery() as nursery:
            self.scopes.append(nursery.cancel_scope)
            nursery.start_soon(self._pump, client, server, True, nursery.cancel_scope)
            nursery.start_soon(self._pump, server, client, False, nursery.cancel_scope)

    async def _pump(
        self, src: trio.SocketStream, dst: trio.SocketStream, up: bool, scope: trio.CancelScope
    ) -> None:
        """Until either side ends; a reset is an end like any other, for a relay."""
        try:
            while data := await src.receive_some(65536):
                if up not in self.holding:
                    await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()

    def cut(self) -> None:
        self.holding.clear()
        for scope in self.scopes:
            scope.cancel()


async def test_unacked_operations_are_resent_after_a_drop(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    server = await start_server()
    relay = Cuttable(server.port)
    await nursery.start(relay.serve)
    async with (
        terminal(f"127.0.0.1:{relay.port}", server.token("alice"), server.general) as term,
        ws_connect(server.ws_url("bob")) as bob,
    ):
        await term.wait_for("* joined #general")
        await bob.join(server.general)
        first = (await bob.say(server.general, "first"))["seq"]
        await term.wait_for(f"[{first}] bob: first")
        await term.type("mine")
        mine = (await bob.expect("message", content="mine"))["seq"]
        await term.wait_for(f"[{mine}] alice: mine")

        relay.holding.add(True)  # what the client sends now never arrives
        await term.type(f"/edit {mine} mine, edited")
        await term.type(f"/react {first} 👍")
        await term.type("typed during the drop")
        await term.type("/marker")
        await term.wait_for("! unknown command /marker")  # the three lines were sent
        relay.cut()
        await term.wait_for("reconnecting")

        await bob.expect("message_edited", target_seq=mine, content="mine, edited")
        await bob.expect("reaction_added", target_seq=first, emoji="👍", count=1)
        await bob.expect("message", user_id="alice", content="typed during the drop")
        await term.wait_for("alice: typed during the drop")
        await term.wait_for(f"[{mine}] alice (edited): mine, edited")
        await term.wait_for(f"[{first}] 👍 1 (alice)")
        await term.type("/quit")
        await term.wait_for("* bye")
        for text in ("(edited): mine, edited", "👍 1 (alice)", "alice: typed during the drop"):
            assert term.count(text) == 1, term.out.decode()
        assert log_entries(bob.seen, "alice") == [
            "message",
            "message_edited",
            "reaction_added",
            "message",
        ]


async def test_a_replay_prints_each_message_once_in_its_current_state(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    server = await start_server()
    relay = Cuttable(server.port)
    await nursery.start(relay.serve)
    general = server.general
    async with (
        terminal(f"127.0.0.1:{relay.port}", server.token("alice"), general) as term,
        ws_connect(server.ws_url("bob")) as bob,
    ):
        await term.wait_for("* joined #general")
        await bob.join(general)
        before = (await bob.say(general, "before"))["seq"]
        await term.wait_for(f"[{before}] bob: before")

        relay.holding.update((True, False))  # alice hears nothing of what follows
        away = (await bob.say(general, "while away"))["seq"]
        for frame in (
            {"type": "edit", "target_seq": away, "content": "while away, edited"},
            {"type": "react", "target_seq": away, "emoji": "❤️"},
            {"type": "react", "target_seq": before, "emoji": "👍"},
            {"type": "message", "content": "a reply", "parent_seq": away},
        ):
            await bob.send(channel_id=general, message_id=f"m{len(bob.seen)}", **frame)
            assert (await bob.expect_any(("ack", "error")))["type"] == "ack"
        relay.cut()
        await term.wait_for("reconnecting")

        await term.expect(f"[{away}] bob (edited): while away, edited  ❤️ 1  (1 reply)")
        await term.expect(f"#general [{before}] 👍 1 (bob)")  # its message came before
        await term.expect(f"] ↳{away} bob: a reply")
        assert term.count("(edited)") == 1 and term.count("❤️") == 1, term.out.decode()
        assert term.count("bob: before") == 1
