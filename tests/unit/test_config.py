from __future__ import annotations

from pathlib import Path

import pytest

from trichat.config import (
    Settings,
    default_text,
    env_names,
    flag_name,
    is_flag,
    parse_duration,
)
from trichat.errors import ConfigError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.rate_limit_per_minute, s.max_frame_bytes) == (
        "127.0.0.1",
        8080,
        20,
        4096,
    )
    assert s.redis_url is None and s.database_url is None
    assert s.data_dir == Path("./trichat-data")
    assert (s.ping_interval, s.pong_timeout, s.shutdown_grace) == (30.0, 60.0, 10.0)
    assert s.allowed_origins == ()


def test_env_and_overrides() -> None:
    env = {
        "PORT": "9000",
        "TRICHAT_PING_INTERVAL": "500ms",
        "TRICHAT_PONG_TIMEOUT": "1m",
        "TRICHAT_ALLOWED_ORIGINS": "https://a.example/, https://b.example",
        "TRICHAT_LOG_FORMAT": "JSON",
    }
    s = Settings.from_env(env, {"PORT": "9001"})
    assert s.port == 9001 and s.ping_interval == 0.5 and s.pong_timeout == 60.0
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert s.log_format == "json"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"PORT": "eighty"}, "PORT='eighty'"),
        ({"PORT": "70000"}, "PORT='70000'"),
        ({"TRICHAT_SEND_QUEUE": "0"}, "TRICHAT_SEND_QUEUE='0'"),
        ({"TRICHAT_PING_INTERVAL": "soon"}, "TRICHAT_PING_INTERVAL='soon'"),
        ({"TRICHAT_LOG_LEVEL": "loud"}, "TRICHAT_LOG_LEVEL='loud'"),
        ({"TRICHAT_PONG_TIMEOUT": "5s"}, "TRICHAT_PONG_TIMEOUT"),
        ({"TRICHAT_JWT_SECRET": "a", "TRICHAT_JWT_PUBLIC_KEY": "b"}, "choose one"),
        ({"TRICHAT_MAX_FRAME_BYTES": "10"}, "TRICHAT_MAX_FRAME_BYTES=10"),
        ({"TRICHAT_DEV": "maybe"}, "TRICHAT_DEV='maybe'"),
        ({"TRICHAT_DEV": "1", "TRICHAT_JWT_PUBLIC_KEY": "k"}, "TRICHAT_DEV needs a secret"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert needle in str(info.value)


def test_durations_and_flags() -> None:
    assert parse_duration("2h") == 7200 and parse_duration("1.5") == 1.5
    with pytest.raises(ValueError):
        parse_duration("-1s")
    assert flag_name("TRICHAT_SEND_QUEUE") == "--send-queue" and flag_name("PORT") == "--port"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "chat.example"])
def test_dev_is_refused_on_a_host_others_reach(host: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"TRICHAT_DEV": "1", "HOST": host})
    assert f"HOST={host}" in str(info.value) and "--dev-any-host" in str(info.value)
    forced = Settings.from_env({"TRICHAT_DEV": "1", "HOST": host, "TRICHAT_DEV_ANY_HOST": "1"})
    assert forced.dev and forced.dev_any_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_dev_is_allowed_on_loopback(host: str) -> None:
    assert Settings.from_env({"TRICHAT_DEV": "true", "HOST": host}).dev


def test_every_setting_has_help_and_a_default() -> None:
    for name, env, help_text in env_names():
        assert help_text, env
        assert default_text(name), env
    assert default_text("data_dir") == "./trichat-data" and default_text("dev") == "off"
    assert default_text("ping_interval") == "30s" and default_text("instance_id") == "random"
    assert {env for _, env, _ in env_names() if is_flag(env)} == {
        "TRICHAT_MIGRATE_ON_START",
        "TRICHAT_DEV",
        "TRICHAT_DEV_ANY_HOST",
    }
