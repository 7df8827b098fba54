"""Each trichat service of compose.yaml, started as `trichat run` / `trichat migrate`
with the environment compose gives its container. Redis and PostgreSQL at their
compose hostnames do not exist here, so those two URLs are dropped (the SQLite store
in a temporary data dir) and the address is a free loopback port; every other
variable is exactly compose's."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.helpers import compose as compose_file
from tests.helpers.process import TrichatProcess
from trichat import __version__

SECRET = "s" * 32
LOCAL = ("DATABASE_URL", "REDIS_URL", "HOST", "PORT", "TRICHAT_DATA_DIR")


def container_env(service: str) -> dict[str, str]:
    services = compose_file.trichat_services(compose_file.load())
    env = compose_file.service_env(services[service], {"TRICHAT_JWT_SECRET": SECRET})
    return {k: v for k, v in env.items() if k not in LOCAL}


def test_each_instance_starts_with_its_compose_environment(tmp_path: Path) -> None:
    for name in ("trichat1", "trichat2"):
        env = container_env(name)
        assert env["TRICHAT_JWT_SECRET"] == SECRET
        data = tmp_path / name
        data.mkdir()
        server = TrichatProcess(
            tmp_path / f"{name}.log", SECRET, HOST="127.0.0.1", TRICHAT_DATA_DIR=str(data), **env
        )
        try:
            with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as resp:
                text = resp.read().decode()
            assert f'version="{__version__}"' in text and "process_cpu_seconds_total" in text
            with urllib.request.urlopen(f"{server.url}/api/v1/chat/health", timeout=5) as resp:
                assert name in resp.read().decode()
        finally:
            server.stop()


def test_migrate_runs_with_its_compose_environment(tmp_path: Path) -> None:
    shell = {k: v for k, v in os.environ.items() if not k.startswith("TRICHAT_")}
    for name in LOCAL:
        shell.pop(name, None)
    env = {**shell, **container_env("migrate"), "TRICHAT_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "trichat", "migrate"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
