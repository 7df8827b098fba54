"""Hand HTTP connections to hypercorn after the front door has read their head.

hypercorn's trio worker normally owns its listening sockets. Here the front door
owns the one public port, so this module sets up what hypercorn's `worker_serve`
sets up (the app's lifespan, a worker context) and runs hypercorn's per-connection
`TCPServer` on a stream that first replays the bytes the front door already read.
`TCPServer` is internal API: hypercorn is pinned to 0.18.x in pyproject.toml and
`tests/integration/test_front_door.py` covers REST, 404s and keep-alive through it.
"""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, Updated
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app


class ReplayStream(trio.abc.HalfCloseableStream):
    """A SocketStream whose first reads return `prefix` (bytes already consumed)."""

    def __init__(self, stream: trio.SocketStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix
        self.socket = stream.socket  # hypercorn reads the peer address from it

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            await trio.lowlevel.checkpoint()
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


class _TCPServer(TCPServer):
    """hypercorn's connection server, with its keep-alive timer restarted, and the
    connection closed, in a shielded scope. hypercorn does both from the task that
    finishes a request, and under quart-trio that task is already cancelled by
    then: the timer never ran, so idle keep-alive connections were never closed
    (4,000 idle ones were all still open 40 s after a 5 s `keep_alive_timeout`),
    and a response that must close its connection (a 408) left it open."""

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated) and event.idle:
            with trio.CancelScope(shield=True):
                await self.idle_task.restart(self._task_group, self._idle_timeout)
            return
        if isinstance(event, Closed):  # the same: closing from a cancelled task
            with trio.CancelScope(shield=True):
                await super().protocol_send(event)
            return
        await super().protocol_send(event)

    async def _read_data(self) -> None:
        """Read until the peer is gone; then stop the keep-alive timer, which would
        otherwise hold the connection's task group open until it fires."""
        await super()._read_data()
        await self.idle_task.stop()


class HypercornGate:
    """The quart app behind hypercorn, fed connections one at a time."""

    def __init__(self, app: Any, config: Config) -> None:
        self.config = config
        self.app = wrap_app(app, config.wsgi_max_body_size, None)
        self.state: dict[str, Any] = {}
        self.lifespan = Lifespan(self.app, config, self.state)
        self.context = WorkerContext(None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the app's lifespan: started once startup completed; on cancel, runs
        the app's shutdown."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.lifespan.handle_lifespan)
            await self.lifespan.wait_for_startup()
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                grace = self.config.graceful_timeout
                with trio.CancelScope(shield=True), trio.move_on_after(grace):
                    await self.context.terminated.set()
                    await self.lifespan.wait_for_shutdown()
                nursery.cancel_scope.cancel()

    async def serve_connection(self, stream: trio.SocketStream, prefix: bytes) -> None:
        server = _TCPServer(
            self.app,
            self.config,
            self.context,
            ConnectionState(self.state.copy()),
            ReplayStream(stream, prefix),  # type: ignore[arg-type]
        )
        await server.run()

    async def terminate(self) -> None:
        """Tell keep-alive connections to close (they finish the request in hand)."""
        await self.context.terminated.set()
