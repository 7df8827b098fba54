"""`trichat run | token | migrate | chat | bench`: the only place that calls `trio.run`
(besides the bench's worker processes, each one trio run of its own)."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence

import trio

from trichat import auth, gctune, logs
from trichat.config import (
    Settings,
    default_text,
    env_names,
    flag_name,
    is_flag,
    parse_duration,
)
from trichat.errors import ConfigError, StoreUnavailable


def _run_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="serve HTTP + WebSocket on one port",
        description="Serve HTTP + WebSocket on one port. Every flag is also an environment "
        "variable (named after it); a flag wins over its variable.",
    )
    for name, env, help_text in env_names():
        text = f"{help_text} (env {env}; default {default_text(name)})"
        if is_flag(env):  # `--dev` alone means on; `--dev false` still reads a value
            p.add_argument(
                flag_name(env), dest=name, nargs="?", const="true", metavar="BOOL", help=text
            )
        else:
            p.add_argument(flag_name(env), dest=name, metavar="VALUE", help=text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("trichat")
    except PackageNotFoundError:  # run from a source tree without installing
        from trichat import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trichat", description="A real-time chat server.")
    parser.add_argument("--version", action="version", version=f"trichat {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    t = sub.add_parser("token", help="print a signed JWT for USER")
    t.add_argument("user")
    t.add_argument("--username")
    t.add_argument("--display-name")
    t.add_argument("--admin", action="store_true")
    t.add_argument("--ttl", default="1h", help="lifetime, e.g. 30m, 1h, 24h (default 1h)")
    t.add_argument("--data-dir", help="data folder holding the embedded secret")
    c = sub.add_parser("chat", help="a terminal chat client")
    c.add_argument("url", help="the server, e.g. http://127.0.0.1:8080 or ws://…/ws")
    c.add_argument("--token", required=True, help="a JWT (see trichat token)")
    c.add_argument(
        "--channel", help="a channel to join at once: its id or its name (general or #general)"
    )
    b = sub.add_parser("bench", help="a load generator for any trichat (docs/performance.md)")
    b.add_argument("url", help="the server, e.g. http://127.0.0.1:8080")
    b.add_argument(
        "more_urls",
        nargs="*",
        metavar="URL",
        help="more instances of the same cluster: clients are spread over all",
    )
    b.add_argument("--secret", help="the server's HS256 secret, to mint the clients' tokens")
    b.add_argument("--data-dir", help="or: the server's data folder (its embedded secret)")
    b.add_argument("--channels", type=int, default=1, help="channels to create (default 1)")
    b.add_argument("--members", type=int, default=1000, help="clients per channel (1000)")
    b.add_argument("--senders", type=int, default=10, help="senders per channel (10)")
    b.add_argument("--rate", type=float, default=20.0, help="msg/s, all senders together (20)")
    b.add_argument("--duration", default="10s", help="sending time (10s)")
    b.add_argument("--drain", default="5s", help="longest wait for deliveries after (5s)")
    b.add_argument("--idle-hold", default="0s", help="hold the connections after, e.g. 20s")
    b.add_argument("--processes", type=int, help="generator processes (default: CPUs - 1)")
    b.add_argument("--server-pid", type=int, help="the server's pid (found by port if local)")
    b.add_argument(
        "--react",
        action="store_true",
        help="senders react and unreact (on each channel's first message) instead of posting",
    )
    b.add_argument("--json", action="store_true", help="print the report as one JSON object")
    b.add_argument("--quiet", action="store_true", help="no progress on stderr")
    m = sub.add_parser("migrate", help="apply migrations/ to DATABASE_URL")
    m.add_argument("--down", type=int, metavar="N", help="revert the newest N migrations")
    m.add_argument("--dir", help="the migrations folder (default: the repository's)")
    return parser


def _settings(overrides: dict[str, str]) -> Settings:
    return Settings.from_env(os.environ, overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    env_of = {name: env for name, env, _ in env_names()}
    overrides = {env_of[k]: v for k, v in vars(args).items() if k in env_of and v is not None}
    settings = _settings(overrides)
    logs.configure(settings.log_level, settings.log_format)
    log = logging.getLogger("trichat")
    if settings.dev:
        log.warning(
            "development mode is on: the web page signs anyone in by name (never in production)"
        )
    faulthandler.enable()  # a fatal signal (SIGBUS, SIGSEGV) is named on stderr, not silent
    from trichat.server import StartupError

    failed: BaseException | None = None
    try:
        trio.run(_serve_until_signal, settings)
    except* (StoreUnavailable, StartupError) as group:  # one line, no traceback
        failed = group
    if failed is None:
        return 0
    debug = settings.log_level == "debug"
    log.error("cannot start: %s", _first(failed), exc_info=failed if debug else None)
    return 1


def _first(error: BaseException) -> BaseException:
    """The first leaf of nested exception groups (what failed, without the wrapping)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _serve_until_signal(settings: Settings) -> None:
    from trichat.server import serve

    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(serve, settings)
            gctune.tune()
            _print_welcome(settings, handle.port, handle.general_id)
            async for _ in signals:
                handle.stop()
                break


def _print_welcome(settings: Settings, port: int, general_id: str) -> None:
    log = logging.getLogger("trichat")
    log.info("channel 'general' id: %s", general_id)
    if not settings.jwt_public_key:
        data_dir = f" --data-dir {settings.data_dir}" if settings.jwt_secret is None else ""
        log.info("get a token:  trichat token alice%s", data_dir)
        log.info("connect:      ws://%s:%d/ws?token=<token>", settings.host, port)


def _cmd_token(args: argparse.Namespace) -> int:
    overrides = {"TRICHAT_DATA_DIR": args.data_dir} if args.data_dir else {}
    settings = _settings(overrides)
    try:
        ttl = parse_duration(args.ttl)
    except ValueError as exc:
        raise ConfigError(f"--ttl={args.ttl!r} is not valid: {exc}") from None
    token = auth.mint(
        auth.signing_secret(settings),
        args.user,
        username=args.username,
        display_name=args.display_name,
        admin=args.admin,
        ttl=ttl,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    print(token)
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings({})
    if not settings.database_url:
        print(
            "DATABASE_URL is not set: the SQLite store applies its schema at start; "
            "nothing to migrate."
        )
        return 0
    from pathlib import Path

    from trichat import aio
    from trichat.server import is_postgres_failure, postgres_failure
    from trichat.store.pg_migrate import (
        MigrationError,
        current_version,
        default_directory,
        migrate_down,
        migrate_up,
    )

    directory = Path(args.dir) if args.dir else default_directory()
    dsn = settings.database_url

    async def main() -> tuple[list[int], int]:
        async with aio.open_aio_loop():
            if args.down:
                done = await aio.run(migrate_down, dsn, directory, args.down)
            else:
                done = await aio.run(migrate_up, dsn, directory)
            return done, await aio.run(current_version, dsn)

    failed: BaseException | None = None
    try:
        done, version = trio.run(main)
    except* Exception as group:
        failed = _first(group)
        if not (isinstance(failed, MigrationError) or is_postgres_failure(failed)):
            raise
    if failed is not None:
        if settings.log_level == "debug":
            traceback.print_exception(failed)
        if isinstance(failed, MigrationError):
            raise ConfigError(f"migrate: {failed}") from None
        raise ConfigError(f"migrate: {postgres_failure(failed, dsn)}") from None
    verb = "reverted" if args.down else "applied"
    print(f"{verb} {done or 'nothing'}; schema version now {version}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import orjson

    from trichat.bench.run import Scenario, default_processes, format_report, run

    secret = args.secret or os.environ.get("TRICHAT_JWT_SECRET")
    if not secret:
        overrides = {"TRICHAT_DATA_DIR": args.data_dir} if args.data_dir else {}
        settings = _settings(overrides)
        if not (settings.data_dir / auth.SECRET_FILE).exists():
            raise ConfigError("bench: give --secret (or TRICHAT_JWT_SECRET) or --data-dir")
        secret = auth.signing_secret(settings)
    durations = {}
    for name in ("duration", "drain", "idle_hold"):
        raw = getattr(args, name)
        try:
            durations[name] = parse_duration(raw)
        except ValueError as exc:
            raise ConfigError(f"--{name.replace('_', '-')}={raw!r} is not valid: {exc}") from None
    for name in ("channels", "members"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1")
    if args.senders < 0 or args.rate < 0:
        raise ConfigError("--senders and --rate must not be negative")
    scenario = Scenario(
        url=args.url,
        more_urls=tuple(args.more_urls),
        secret=secret,
        channels=args.channels,
        members=args.members,
        senders=args.senders,
        rate=args.rate,
        processes=args.processes or default_processes(),
        server_pid=args.server_pid,
        quiet=args.quiet or args.json,
        react=args.react,
        **durations,
    )
    report = run(scenario)
    print(orjson.dumps(report).decode() if args.json else format_report(report))
    return 0 if report["pass"] else 1


def _cmd_chat(args: argparse.Namespace) -> int:
    from trichat.client import run_chat

    return trio.run(run_chat, args.url, args.token, args.channel)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    commands = {
        "run": _cmd_run,
        "token": _cmd_token,
        "migrate": _cmd_migrate,
        "chat": _cmd_chat,
        "bench": _cmd_bench,
    }
    try:
        code = commands[args.command](args)
    except ConfigError as exc:
        print(f"trichat: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
