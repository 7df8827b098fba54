"""Settings: one frozen object read from the environment (and `trichat run` flags).

Every field names its environment variable; every `trichat run` flag is that name
without the `TRICHAT_` prefix, lower-cased, with dashes (`TRICHAT_SEND_QUEUE` →
`--send-queue`). A bad value raises `ConfigError` with one sentence naming the
variable and the value, so nothing half-starts.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from trichat.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'30', '30s', '500ms', '1m', '1h' → seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError("expected a duration such as 30s, 500ms, 1m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("expected a port number 0..65535")
    return value


def _positive_duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError("expected a duration above zero")
    return value


def _origins(text: str) -> tuple[str, ...]:
    items = tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())
    if not items:
        raise ValueError("expected a comma-separated list of origins or *")
    return items


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _text(text: str) -> str:
    return text


def _opt(env: str, parse: Callable[[str], Any] = _text, help: str = "") -> Any:
    return {"env": env, "parse": parse, "help": help}


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata=_opt("HOST", help="address to bind"))
    port: int = field(default=8080, metadata=_opt("PORT", _port, "port to bind (0: any)"))
    redis_url: str | None = field(
        default=None, metadata=_opt("REDIS_URL", help="Redis URL; unset: in-process broker")
    )
    database_url: str | None = field(
        default=None, metadata=_opt("DATABASE_URL", help="PostgreSQL URL; unset: SQLite")
    )
    data_dir: Path = field(
        default=Path("./trichat-data"),
        metadata=_opt("TRICHAT_DATA_DIR", Path, "folder for the SQLite store and secret"),
    )
    migrate_on_start: bool = field(
        default=True,
        metadata=_opt(
            "TRICHAT_MIGRATE_ON_START", _bool, "apply migrations/ to DATABASE_URL at start"
        ),
    )
    sqlite_sync: str = field(
        default="full",
        metadata=_opt(
            "TRICHAT_SQLITE_SYNC",
            _choice("full", "normal"),
            "SQLite fsync per commit (full) or per checkpoint (normal)",
        ),
    )
    jwt_secret: str | None = field(
        default=None, metadata=_opt("TRICHAT_JWT_SECRET", help="HS256 secret")
    )
    jwt_public_key: str | None = field(
        default=None,
        metadata=_opt("TRICHAT_JWT_PUBLIC_KEY", help="RS256/ES256 public key (PEM or path)"),
    )
    jwt_issuer: str | None = field(
        default=None,
        metadata=_opt("TRICHAT_JWT_ISSUER", help="required iss claim; unset: not checked"),
    )
    jwt_audience: str | None = field(
        default=None,
        metadata=_opt("TRICHAT_JWT_AUDIENCE", help="required aud claim; unset: not checked"),
    )
    allowed_origins: tuple[str, ...] = field(
        default=(),
        metadata=_opt("TRICHAT_ALLOWED_ORIGINS", _origins, "comma list; unset: same origin only"),
    )
    rate_limit_per_minute: int = field(
        default=20,
        metadata=_opt(
            "TRICHAT_RATE_LIMIT_PER_MINUTE", _positive_int, "messages a user may send a minute"
        ),
    )
    max_content_chars: int = field(
        default=500,
        metadata=_opt("TRICHAT_MAX_CONTENT_CHARS", _positive_int, "longest message text"),
    )
    max_frame_bytes: int = field(
        default=4096,
        metadata=_opt(
            "TRICHAT_MAX_FRAME_BYTES", _positive_int, "largest WebSocket frame a client may send"
        ),
    )
    ping_interval: float = field(
        default=30.0,
        metadata=_opt("TRICHAT_PING_INTERVAL", _positive_duration, "time between pings"),
    )
    pong_timeout: float = field(
        default=60.0,
        metadata=_opt(
            "TRICHAT_PONG_TIMEOUT", _positive_duration, "silence after which a client is dropped"
        ),
    )
    write_timeout: float = field(
        default=10.0,
        metadata=_opt(
            "TRICHAT_WRITE_TIMEOUT", _positive_duration, "longest wait on a slow client's socket"
        ),
    )
    send_queue: int = field(
        default=256,
        metadata=_opt("TRICHAT_SEND_QUEUE", _positive_int, "frames queued per client"),
    )
    history_on_join: int = field(
        default=50,
        metadata=_opt("TRICHAT_HISTORY_ON_JOIN", int, "messages sent on join (0..1000)"),
    )
    recover_max: int = field(
        default=1000,
        metadata=_opt("TRICHAT_RECOVER_MAX", _positive_int, "most messages replayed on a resume"),
    )
    shutdown_grace: float = field(
        default=10.0,
        metadata=_opt("TRICHAT_SHUTDOWN_GRACE", _positive_duration, "longest graceful shutdown"),
    )
    handshake_timeout: float = field(
        default=10.0,
        metadata=_opt(
            "TRICHAT_HANDSHAKE_TIMEOUT",
            _positive_duration,
            "longest HTTP request or WebSocket handshake",
        ),
    )
    max_connections: int = field(
        default=10000,
        metadata=_opt("TRICHAT_MAX_CONNECTIONS", _positive_int, "open connections at most"),
    )
    max_connections_per_user: int = field(
        default=20,
        metadata=_opt(
            "TRICHAT_MAX_CONNECTIONS_PER_USER", _positive_int, "open connections per user"
        ),
    )
    instance_id: str = field(
        default_factory=lambda: secrets.token_hex(4),
        metadata=_opt("TRICHAT_INSTANCE_ID", help="this instance's name (default: random)"),
    )
    log_level: str = field(
        default="info",
        metadata=_opt(
            "TRICHAT_LOG_LEVEL",
            _choice("debug", "info", "warning", "error"),
            "debug, info, warning or error (debug: tracebacks of start failures)",
        ),
    )
    log_format: str = field(
        default="console",
        metadata=_opt(
            "TRICHAT_LOG_FORMAT", _choice("json", "console"), "console or json (one object a line)"
        ),
    )
    dev: bool = field(
        default=False,
        metadata=_opt(
            "TRICHAT_DEV",
            _bool,
            "development mode: the web page signs anyone in by name (never in production)",
        ),
    )
    dev_any_host: bool = field(
        default=False,
        metadata=_opt(
            "TRICHAT_DEV_ANY_HOST",
            _bool,
            "allow development mode on a HOST other than loopback (others can sign in)",
        ),
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], overrides: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from environment variables, then flag overrides (same names)."""
        values: dict[str, Any] = {}
        sources = [environ, overrides or {}]
        for f in fields(cls):
            env = f.metadata["env"]
            for source in sources:
                raw = source.get(env)
                if raw is None:
                    continue
                if raw == "" and f.default is None:
                    values.pop(f.name, None)
                    continue
                try:
                    values[f.name] = f.metadata["parse"](raw)
                except ValueError as exc:
                    raise ConfigError(f"{env}={raw!r} is not valid: {exc}") from None
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        if self.dev and not self.dev_any_host and not is_loopback(self.host):
            raise ConfigError(
                f"TRICHAT_DEV is refused on HOST={self.host}: anyone who reaches the port "
                "could sign in as anyone; bind 127.0.0.1, or force it with --dev-any-host "
                "(TRICHAT_DEV_ANY_HOST=1)"
            )
        if self.dev and self.jwt_public_key:
            raise ConfigError(
                "TRICHAT_DEV needs a secret to sign with: it cannot be used with "
                "TRICHAT_JWT_PUBLIC_KEY"
            )
        if self.jwt_secret and self.jwt_public_key:
            raise ConfigError(
                "TRICHAT_JWT_SECRET and TRICHAT_JWT_PUBLIC_KEY are both set: choose one"
            )
        if self.pong_timeout < self.ping_interval:
            raise ConfigError(
                f"TRICHAT_PONG_TIMEOUT={self.pong_timeout:g}s is shorter than "
                f"TRICHAT_PING_INTERVAL={self.ping_interval:g}s"
            )
        if self.max_frame_bytes < 256:
            raise ConfigError(
                f"TRICHAT_MAX_FRAME_BYTES={self.max_frame_bytes} is too small (minimum 256)"
            )
        if not 0 <= self.history_on_join <= 1000:
            raise ConfigError(
                f"TRICHAT_HISTORY_ON_JOIN={self.history_on_join} is not valid: expected 0..1000"
            )


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8, ::1: only this machine can connect."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def is_flag(env: str) -> bool:
    """A boolean setting: its `trichat run` flag may be given without a value."""
    return any(f.metadata["env"] == env and f.metadata["parse"] is _bool for f in fields(Settings))


def default_text(name: str) -> str:
    """A setting's default as `trichat run --help` shows it."""
    f = next(f for f in fields(Settings) if f.name == name)
    if f.default is MISSING:
        return "random"
    value = f.default
    if value is None or value == ():
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, Path) and not value.is_absolute():
        return f"./{value}"
    if isinstance(value, float):
        return f"{value:g}s"
    return str(value)


def env_names() -> list[tuple[str, str, str]]:
    """(field name, environment variable, help) for every setting, in order."""
    return [(f.name, f.metadata["env"], f.metadata["help"]) for f in fields(Settings)]


def flag_name(env: str) -> str:
    """`TRICHAT_SEND_QUEUE` → `--send-queue`; `PORT` → `--port`."""
    return "--" + env.removeprefix("TRICHAT_").lower().replace("_", "-")
