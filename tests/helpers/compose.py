"""compose.yaml as Docker Compose reads it, without Docker: `${VAR:-default}`,
`${VAR:?error}` and friends interpolated from a given shell environment, an
environment entry with no value passed through from that shell (or left unset),
and the image's `ENV` from the Dockerfile underneath a service's environment."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_]\w*))"
)


class ComposeError(Exception):
    """What `docker compose` would refuse (a `${VAR:?message}` unset)."""


def interpolate(text: str, shell: Mapping[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["plain"]
        value, op, arg = shell.get(name), m["op"], m["arg"] or ""
        missing = value is None or (value == "" and op is not None and op.startswith(":"))
        if op is not None and op.endswith("-"):
            return arg if missing else value  # type: ignore[return-value]
        if op is not None and missing:
            raise ComposeError(f"{name}: {arg}")
        return value or ""

    return _VAR.sub(one, text)


def load(path: Path = ROOT / "compose.yaml") -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def image_env(dockerfile: Path = ROOT / "Dockerfile") -> dict[str, str]:
    """The `ENV name=value ...` lines of a Dockerfile."""
    env: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        if line.startswith("ENV "):
            env.update(item.split("=", 1) for item in shlex.split(line[4:]))  # type: ignore[misc]
    return env


def service_env(service: dict[str, Any], shell: Mapping[str, str]) -> dict[str, str]:
    """The environment a service's container starts with (trichat's image ENV first)."""
    env = image_env() if service.get("image", "").startswith("trichat:") else {}
    for name, raw in (service.get("environment") or {}).items():
        if raw is None:  # `NAME:` with no value: the shell's, else unset
            if name in shell:
                env[name] = shell[name]
            else:
                env.pop(name, None)
        else:
            env[name] = interpolate(str(raw), shell)
    return env


def trichat_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every service that runs trichat's image (instances and migrate)."""
    return {
        name: s
        for name, s in compose["services"].items()
        if s.get("image", "").startswith("trichat:")
    }
