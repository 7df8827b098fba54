"""The composition root: pick the store, the broker, the presence and the rate
limiter from settings, wire the hub, the service, the REST app and the front door,
serve, and shut down gracefully."""

from __future__ import annotations

import errno
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import dataclass, field

import trio
from hypercorn.config import Config as HypercornConfig

from trichat import aio
from trichat.auth import make_verifier
from trichat.broker.base import Broker, Marks, Presence, RateLimiter
from trichat.broker.memory import MemoryBroker, MemoryLimiter, MemoryMarks, MemoryPresence
from trichat.config import Settings
from trichat.errors import Conflict, StoreUnavailable
from trichat.frontdoor import FrontDoor
from trichat.hub import Hub
from trichat.hyper import HypercornGate
from trichat.metrics import Metrics
from trichat.models import PUBLIC, now_ms
from trichat.service import ChatService
from trichat.sessions import Sessions
from trichat.store.base import Store
from trichat.store.sqlite import open_sqlite_store
from trichat.web.app import AsgiGuard, create_app
from trichat.web.deps import Deps
from trichat.web.rest import register

log = logging.getLogger("trichat.server")

DEFAULT_CHANNEL = "general"


class StartupError(Exception):
    """A start that cannot go on (the port is taken, PostgreSQL cannot be reached):
    one sentence saying what failed and what to do, shown without a traceback."""


def is_postgres_failure(exc: BaseException) -> bool:
    """The network or the driver failed (not a bug here): the driver stays in store/."""
    driver = any(c.__module__.startswith("asyncpg") for c in type(exc).__mro__)
    return driver or isinstance(exc, OSError)


def postgres_failure(exc: BaseException, dsn: str) -> str:
    """What went wrong talking to PostgreSQL at `dsn`, and what to do (no password)."""
    from urllib.parse import urlsplit

    url = urlsplit(dsn)
    where = f"{url.hostname or 'localhost'}:{url.port or 5432}"
    database = url.path.lstrip("/") or url.username or "postgres"
    name = type(exc).__name__
    if name == "InvalidCatalogNameError":
        return (
            f"the database {database!r} does not exist on PostgreSQL at {where}: "
            f"create it (createdb {database}) or fix DATABASE_URL"
        )
    if isinstance(exc, OSError):
        return (
            f"PostgreSQL at {where} cannot be reached ({exc or name}): "
            "start it, or fix the host and port in DATABASE_URL"
        )
    return f"PostgreSQL at {where} refused: {exc or name}: check DATABASE_URL"


def bind_failure(exc: OSError, settings: Settings) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {settings.port} on {settings.host} is already in use: stop the other "
            "process, or choose another port with PORT=… or --port …"
        )
    return f"cannot listen on {settings.host}:{settings.port} ({exc}): check HOST and PORT"


@dataclass
class ServerHandle:
    """What `nursery.start(serve, settings)` returns: the bound port and a way to
    ask for a graceful shutdown (as SIGTERM does)."""

    port: int
    settings: Settings
    store: Store
    sessions: Sessions
    metrics: Metrics
    service: ChatService
    stop_requested: trio.Event = field(default_factory=trio.Event)
    general_id: str = ""

    def stop(self) -> None:
        self.stop_requested.set()


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """PostgreSQL when DATABASE_URL is set (migrated at start unless told not to),
    else SQLite under TRICHAT_DATA_DIR. PostgreSQL needs the asyncio loop open."""
    if settings.database_url:
        from trichat.store.pg_migrate import default_directory, migrate_up
        from trichat.store.postgres import open_postgres_store

        if settings.migrate_on_start:
            try:
                applied = await aio.run(migrate_up, settings.database_url, default_directory())
            except Exception as exc:
                if not is_postgres_failure(exc):
                    raise
                raise StartupError(postgres_failure(exc, settings.database_url)) from exc
            if applied:
                log.info("applied migrations %s", applied)
        async with AsyncExitStack() as stack:
            try:  # opening only: a StoreUnavailable while serving is not a start failure
                store = await stack.enter_async_context(open_postgres_store(settings.database_url))
            except StoreUnavailable as exc:
                cause = exc.__cause__
                if cause is None or not is_postgres_failure(cause):
                    raise
                raise StartupError(postgres_failure(cause, settings.database_url)) from exc
            yield store
        return
    async with open_sqlite_store(settings.data_dir, settings.sqlite_sync) as store:
        yield store


@dataclass(frozen=True)
class ClusterSeams:
    broker: Broker
    presence: Presence
    limits: RateLimiter
    marks: Marks


@asynccontextmanager
async def open_broker(settings: Settings) -> AsyncIterator[ClusterSeams]:
    """The broker, presence, rate limiter and read markers: all on Redis when
    REDIS_URL is set (needs the asyncio loop open), else all in-process."""
    if settings.redis_url:
        from trichat.broker.redis import open_redis

        async with open_redis(settings.redis_url) as redis:
            if not redis.broker.healthy:
                log.warning("redis is not reachable yet; serving alone until it is")
            yield ClusterSeams(redis.broker, redis.presence, redis.limits, redis.marks)
        return
    yield ClusterSeams(MemoryBroker(), MemoryPresence(), MemoryLimiter(), MemoryMarks())


async def ensure_default_channel(store: Store) -> str:
    existing = await store.find_channel_by_name(DEFAULT_CHANNEL)
    if existing is not None:
        return existing.id
    try:
        channel = await store.create_channel(
            channel_id=str(uuid.uuid4()),
            name=DEFAULT_CHANNEL,
            description="Everyone's channel",
            channel_type=PUBLIC,
            max_participants=None,
            created_by="system",
            now=now_ms(),
        )
    except Conflict:  # another instance created it first
        found = await store.find_channel_by_name(DEFAULT_CHANNEL)
        assert found is not None
        return found.id
    log.info("created channel %r: %s", DEFAULT_CHANNEL, channel.id)
    return channel.id


def hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    config.keep_alive_timeout = settings.handshake_timeout  # idle between requests (SPEC §1)
    config.graceful_timeout = min(3.0, settings.shutdown_grace)
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.h11_max_incomplete_size = 16384
    return config


async def serve(
    settings: Settings, *, task_status: trio.TaskStatus[ServerHandle] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve until `handle.stop()` (or cancellation); then shut down within
    `SHUTDOWN_GRACE`: stop accepting, let in-flight messages be acked, close every
    WebSocket with 1001, finish."""
    verifier = make_verifier(settings)
    metrics = Metrics()
    needs_aio = bool(settings.database_url or settings.redis_url) and not aio.loop_is_open()
    async with (
        aio.open_aio_loop() if needs_aio else nullcontext(),
        open_store(settings) as store,
        open_broker(settings) as seams,
    ):
        broker = seams.broker
        store.observe_batch = metrics.store_batch.observe
        await _claim(store, broker)
        general_id = await ensure_default_channel(store)
        hub = Hub(store, broker, metrics)
        service = _service(settings, store, seams, metrics)
        sessions = Sessions(settings, metrics)
        app = create_app()
        app.config["BODY_TIMEOUT"] = settings.handshake_timeout  # a trickled body: 408
        register(app, Deps(settings, verifier, service, hub, sessions, metrics))
        gate = HypercornGate(AsgiGuard(app), hypercorn_config(settings))
        door = FrontDoor(settings, verifier, service, hub, sessions, metrics, gate)
        try:
            listeners = await trio.open_tcp_listeners(settings.port, host=settings.host)
        except OSError as exc:
            raise StartupError(bind_failure(exc, settings)) from exc
        port = listeners[0].socket.getsockname()[1]
        handle = ServerHandle(
            port, settings, store, sessions, metrics, service, general_id=general_id
        )
        async with trio.open_nursery() as root:
            root.start_soon(_monitor, store, broker, hub, sessions, metrics)
            for task in (sessions.keepalive.run, service.announce_departures, service.flusher.run):
                root.start_soon(task)
            await root.start(hub.run)
            await root.start(gate.run)
            async with trio.open_nursery() as connections:
                accepting = trio.CancelScope()
                connections.start_soon(_accept, listeners, door.handle, connections, accepting)
                log.info(
                    "listening on http://%s:%d",
                    settings.host,
                    port,
                    extra={"instance": settings.instance_id},
                )
                task_status.started(handle)
                await handle.stop_requested.wait()
                log.info("shutting down")
                accepting.cancel()
                with trio.CancelScope(shield=True):
                    await _shut_down(settings, listeners, gate, sessions)
                connections.cancel_scope.cancel()
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await service.flusher.flush()  # the read markers still waiting
            root.cancel_scope.cancel()


def _service(
    settings: Settings, store: Store, seams: ClusterSeams, metrics: Metrics
) -> ChatService:
    return ChatService(
        settings, store, seams.broker, seams.presence, seams.limits, metrics, marks=seams.marks
    )


async def _claim(store: Store, broker: Broker) -> None:
    """Warn when instances share the store but not a broker: their members would
    not see each other's messages live (each would only read them on rejoin)."""
    alone = broker.name == "memory"
    if not await store.claim(alone=alone):
        log.warning(
            "another trichat instance uses this database %s; members on different "
            "instances will not see each other's messages live: set the same REDIS_URL "
            "on every instance",
            "while this one has no REDIS_URL" if alone else "without REDIS_URL",
        )


MONITOR_EVERY = 1.0


async def _monitor(
    store: Store, broker: Broker, hub: Hub, sessions: Sessions, metrics: Metrics
) -> None:
    """Keep the health gauges current between scrapes, and log the store going down
    and coming back (one line each, whatever failed). The gauges that walk every
    session or supervisor are set when `/metrics` is scraped (`_scrape_gauges`):
    walking 5,000 sessions every second cost ~1 % of the CPU in S2."""
    metrics.on_scrape(_scrape_gauges(store, hub, sessions, metrics))
    up = True
    while True:
        try:
            await store.ping()
        except StoreUnavailable as exc:
            if up:
                log.warning("the store is down: %s", exc)
            up = False
        else:
            if not up:
                log.warning("the store answers again")
            up = True
        metrics.store_up.set(1 if up else 0)
        metrics.broker_up.set(1 if broker.healthy else 0)
        await trio.sleep(MONITOR_EVERY)


def _scrape_gauges(
    store: Store, hub: Hub, sessions: Sessions, metrics: Metrics
) -> Callable[[], None]:
    depth = metrics.queue_depth
    held, outbox, writes = (depth.labels(q) for q in ("reorder_held", "outbox", "store_writes"))

    def refresh() -> None:
        metrics.channels_active.set(hub.channels_active)
        held.set(hub.held())
        outbox.set(sum(s.outbox.queued for s in sessions.open.values()))
        writes.set(store.pending_writes)

    return refresh


async def _accept(
    listeners: list[trio.SocketListener],
    handler: object,
    nursery: trio.Nursery,
    scope: trio.CancelScope,
) -> None:
    with scope:
        await trio.serve_listeners(handler, listeners, handler_nursery=nursery)  # type: ignore[arg-type]


async def _shut_down(
    settings: Settings,
    listeners: list[trio.SocketListener],
    gate: HypercornGate,
    sessions: Sessions,
) -> None:
    with trio.move_on_after(max(0.1, settings.shutdown_grace - 0.5)):
        for listener in listeners:
            await listener.aclose()
        await gate.terminate()
        await sessions.drain(settings.shutdown_grace)
        await sessions.wait_empty()
