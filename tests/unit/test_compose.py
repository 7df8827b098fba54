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

import pytest
import yaml

from tests.helpers import compose as compose_file
from trichat.config import Settings

ROOT = Path(__file__).parents[2]
ENV_NAMES = {f.metadata["env"] for f in dataclasses.fields(Settings)}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def trichat_services(services: dict[str, Any]) -> dict[str, Any]:
    """The chat instances: trichat's image running its default `trichat run`."""
    return {name: s for name, s in compose_file.trichat_services({"services": services}).items()
            if s.get("command") is None}  # fmt: skip


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


SHELL = {"TRICHAT_JWT_SECRET": "s" * 32}  # what the header's `docker compose up` sets


def test_every_trichat_service_environment_is_accepted_by_trichat() -> None:
    services = compose_file.trichat_services(compose())
    assert {"migrate", "trichat1", "trichat2"} <= set(services)
    for shell, origins in (
        (SHELL, ()),  # TRICHAT_ALLOWED_ORIGINS unset in the shell: same origin only
        ({**SHELL, "TRICHAT_ALLOWED_ORIGINS": "https://chat.example"}, ("https://chat.example",)),
    ):
        for name, service in services.items():
            env = compose_file.service_env(service, shell)
            settings = Settings.from_env(env)  # raises ConfigError on a value trichat refuses
            if name != "migrate":  # the instances pass the shell's origins on
                assert settings.allowed_origins == origins, name
            assert settings.database_url == env["DATABASE_URL"], name
    with pytest.raises(compose_file.ComposeError, match="TRICHAT_JWT_SECRET"):
        compose_file.service_env(services["trichat1"], {})


def test_one_service_builds_the_image_the_others_run() -> None:
    services = compose()["services"]
    builders = {name for name, s in services.items() if "build" in s}
    assert builders == {"migrate"}
    migrate = services["migrate"]
    assert migrate["build"] == "." and migrate["pull_policy"] == "build"
    for name, service in compose_file.trichat_services(compose()).items():
        assert service["image"] == migrate["image"], name
        if name != "migrate":  # never pulled: a registry's `trichat` is not this one
            assert service["pull_policy"] == "never", name
            assert service["depends_on"]["migrate"]["condition"].startswith("service_completed")


def test_haproxy_resolves_instance_names_through_dockers_dns() -> None:
    cfg = (ROOT / "deploy" / "haproxy.cfg").read_text()
    sections = re.split(r"^(?=\S)", cfg, flags=re.M)
    resolvers = {s.split()[1]: s for s in sections if s.startswith("resolvers ")}
    assert len(resolvers) == 1
    [(name, section)] = resolvers.items()
    assert re.search(r"^\s+nameserver \S+ 127\.0\.0\.11:53$", section, re.M)
    backend = next(s for s in sections if s.startswith("backend trichat"))
    default = re.search(r"^\s+default-server (.*)$", backend, re.M)
    servers = re.findall(r"^\s+server (.*)$", backend, re.M)
    assert len(servers) == 2
    for line in servers:
        words = f"{default.group(1) if default else ''} {line}".split()
        assert words[words.index("resolvers") + 1] == name, line
        # start while a name does not resolve yet (its container is still starting)
        assert "none" in words[words.index("init-addr") + 1].split(","), line


def test_each_instance_is_scraped_on_its_own() -> None:
    services = compose()["services"]
    port = compose_file.image_env()["PORT"]
    instances = trichat_services(services)
    published = set()
    for name, service in instances.items():
        [mapping] = service["ports"]
        host, host_port, container_port = mapping.split(":")
        assert (host, container_port) == ("127.0.0.1", port), name  # loopback only
        published.add(host_port)
    assert len(published) == len(instances)
    prom = services["prometheus"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in prom["volumes"])}
    config = yaml.safe_load((ROOT / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    [job] = config["scrape_configs"]
    targets = {t for c in job["static_configs"] for t in c["targets"]}
    assert targets == {f"{name}:{port}" for name in instances}
    assert job.get("metrics_path", "/metrics") == "/metrics"
    alerts = {t for t, s in mounts.items() if s == "./docs/prometheus-alerts.yml"}
    assert set(config["rule_files"]) == alerts and len(alerts) == 1
