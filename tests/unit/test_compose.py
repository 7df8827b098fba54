"""compose.yaml describes the scaled-out topology correctly: two trichat instances
behind HAProxy on one Redis and one PostgreSQL, with settings trichat knows.
Docker's engine does not run here: `docker compose config` runs where the plugin
exists; the topology itself runs as local processes in tests/cluster."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from trichat.config import Settings

ROOT = Path(__file__).parents[2]
ENV_NAMES = {f.metadata["env"] for f in dataclasses.fields(Settings)}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def trichat_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if s.get("command") is None and
            s.get("build") == "."}  # fmt: skip


def test_two_instances_share_redis_and_postgres() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "migrate", "trichat1", "trichat2", "lb"} <= set(services)
    instances = trichat_services(services)
    assert set(instances) == {"trichat1", "trichat2"}
    pg = services["postgres"]["environment"]
    ids = set()
    for name, service in instances.items():
        env = service["environment"]
        unknown = set(env) - ENV_NAMES
        assert not unknown, f"{name}: settings trichat does not read: {unknown}"
        redis = urlsplit(env["REDIS_URL"])
        assert redis.scheme == "redis" and redis.hostname == "redis"
        db = urlsplit(env["DATABASE_URL"])
        assert db.hostname == "postgres" and db.port == 5432
        assert (db.username, db.password, db.path) == (
            pg["POSTGRES_USER"],
            pg["POSTGRES_PASSWORD"],
            "/" + pg["POSTGRES_DB"],
        )
        assert env["TRICHAT_JWT_SECRET"].startswith("${TRICHAT_JWT_SECRET:?")  # one secret
        assert env["TRICHAT_MIGRATE_ON_START"] == "0"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        ids.add(env["TRICHAT_INSTANCE_ID"])
    assert ids == {"trichat1", "trichat2"}
    assert services["migrate"]["command"] == ["trichat", "migrate"]
    assert services["migrate"]["environment"]["DATABASE_URL"] == env["DATABASE_URL"]
    checked = docker_compose_config()  # also Docker's own reading, where it is installed
    assert checked is None or checked.returncode == 0, checked.stderr


def test_load_balancer_fronts_both_instances_with_its_checked_config() -> None:
    lb = compose()["services"]["lb"]
    mount = next(v for v in lb["volumes"] if "haproxy.cfg" in v)
    source = ROOT / mount.split(":")[0]
    assert source.exists()
    env = lb["environment"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    port = re.search(r"PORT=(\d+)", dockerfile).group(1)  # type: ignore[union-attr]
    assert {env["TRICHAT1"], env["TRICHAT2"]} == {f"trichat1:{port}", f"trichat2:{port}"}
    assert lb["ports"] == [f"8080:{env['LB_BIND'].lstrip(':')}"]
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(source)],
        env={
            **os.environ,
            "LB_BIND": "127.0.0.1:9",
            "TRICHAT1": "127.0.0.1:1",
            "TRICHAT2": "127.0.0.1:2",
        },
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert 'CMD ["trichat", "run"]' in dockerfile


def docker_compose_config() -> subprocess.CompletedProcess[str] | None:
    """`docker compose config -q` where Docker's compose plugin exists, else None."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"],
                                        capture_output=True).returncode != 0:  # fmt: skip
        return None
    return subprocess.run(
        [docker, "compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"],
        env={**os.environ, "TRICHAT_JWT_SECRET": "x" * 32},
        capture_output=True,
        text=True,
    )
