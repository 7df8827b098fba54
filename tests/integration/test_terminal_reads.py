"""`trichat chat` and read state (SPEC §7): what it prints counts as read (it moves
the marker, coalesced), `joined` says what is unread, and `/channels` lists the
unread counts, exact, as every device sees them."""

from __future__ import annotations

from tests.conftest import StartServer
from tests.helpers.client import http, ws_connect
from tests.integration.test_terminal_client import terminal

API = "/api/v1/chat"


async def test_printed_messages_are_read_and_channels_list_unread(
    start_server: StartServer,
) -> None:
    server = await start_server()
    side = await http(
        server.port, "POST", f"{API}/channels", token=server.token("bob"), body={"name": "side"}
    )
    side_id = side.json()["id"]
    url = f"http://127.0.0.1:{server.port}"
    async with ws_connect(server.ws_url("bob")) as bob:
        await bob.join(server.general)
        async with terminal(url, server.token("alice"), server.general) as term:
            await term.wait_for("* joined #general")
            async with ws_connect(server.ws_url("alice")) as other_device:
                await other_device.send(type="read", channel_id=server.general, seq=0)
                said = await bob.say(server.general, "hello alice")
                await term.wait_for(f"[{said['seq']}] bob: hello alice")
                # printed: the terminal reads it, and alice's other device hears so
                read = await other_device.expect("read", seq=said["seq"])
                assert read["unread"] == 0
            await bob.join(side_id)
            await bob.say(side_id, "over here")
            await term.type("/channels")
            await term.wait_for(f"  #side  {side_id}\n")  # no marker there: nothing counted
            await term.type(f"/join {side_id}")
            await term.wait_for("* joined #side (last seq 1)")
            await term.wait_for("[1] bob: over here")
            await term.type("/quit")
            await term.wait_for("* bye")
    resp = await http(server.port, "GET", f"{API}/me/unread", token=server.token("alice"))
    assert resp.json()["total"] == 0


async def test_joined_says_what_is_unread(start_server: StartServer) -> None:
    server = await start_server()
    url = f"http://127.0.0.1:{server.port}"
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(server.general)  # alice's marker starts at 0
        await bob.join(server.general)
        for n in range(3):
            await bob.say(server.general, f"while you were out {n}")
    async with terminal(url, server.token("alice"), server.general) as term:
        await term.wait_for("* joined #general (last seq 3; 3 unread)")
        await term.type("/channels")
        await term.wait_for("[3] bob: while you were out 2")  # printed: now read
        async with ws_connect(server.ws_url("alice")) as other_device:
            await other_device.expect("read", seq=3)  # the terminal's move reached it
        await term.type("/channels")
        await term.wait_for(f"  #general  {server.general}  (joined)\n")
