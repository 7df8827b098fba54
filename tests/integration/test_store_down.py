"""When the store cannot answer: nothing is acked, connections stay, /health is 503.
(SQLite is made to fail by closing its connections; recovery after an outage is
covered with PostgreSQL, which can really be stopped and restarted.)"""

from __future__ import annotations

from tests.conftest import Running
from tests.helpers.client import http, ws_connect


async def test_store_down_refuses_instead_of_losing(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await alice.say(server.general, "while up")
        store = server.handle.store
        store._writer_conn.close()  # type: ignore[attr-defined]
        store._reader_conn.close()  # type: ignore[attr-defined]

        await alice.send(
            type="message", channel_id=server.general, content="while down", message_id="m-down"
        )
        err = await alice.expect("error")
        assert err["code"] == "unavailable" and err["message_id"] == "m-down"
        health = await http(server.port, "GET", "/api/v1/chat/health")
        assert health.status == 503
        assert health.json()["store"] == "down" and health.json()["status"] == "degraded"
        rest = await http(
            server.port,
            "GET",
            f"/api/v1/chat/channels/{server.general}/messages",
            token=server.token("alice"),
        )
        assert rest.status == 503 and rest.json()["error"]["code"] == "unavailable"
        await alice.send(type="typing", channel_id=server.general)  # still connected
        await alice.send(type="leave", channel_id=server.general)
        await alice.expect("left")
