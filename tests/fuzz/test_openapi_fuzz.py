"""Schema-driven fuzzing: schemathesis generates requests from /openapi.json and
sends them to a real `trichat run`; no input may produce a 5xx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.process import TrichatProcess

SECRET = "fuzz-secret-of-sufficient-length-for-hs256-xx"


@pytest.fixture(scope="session")
def trichat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("fuzz")
    server = TrichatProcess(
        data / "server.log", SECRET, TRICHAT_DATA_DIR=str(data), TRICHAT_LOG_LEVEL="info"
    )
    try:
        yield server.url
    finally:
        server.stop()


def _token() -> str:
    from trichat.auth import mint

    return mint(SECRET, "fuzzer", admin=True, ttl=3600)


def test_no_input_makes_a_server_error(trichat_url: str, tmp_path: Path) -> None:
    # the schemathesis CLI (its pytest plugin does not load under pytest 9)
    cli = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [
            str(cli),
            "run",
            f"{trichat_url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,"
            "response_schema_conformance,content_type_conformance,negative_data_rejection",
            "--header",
            f"Authorization: Bearer {_token()}",
            "--max-examples",
            "30",
            "--seed",
            "1",
            "--request-timeout",
            "10",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        cwd=tmp_path,
        text=True,
        timeout=600,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "operations" in done.stdout.lower()


def test_every_route_is_documented(trichat_url: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{trichat_url}/openapi.json") as resp:
        doc = json.load(resp)
    from trichat.web import ops, rest

    web = Path(rest.__file__).parent
    modules = [Path(rest.__file__), Path(ops.__file__), *sorted((web / "routes").glob("*.py"))]
    source = "".join(m.read_text() for m in modules)
    declared = set(re.findall(r"@(?:routes\.)?route\(\s*\"(\w+)\",\s*f?\"([^\"]+)\"", source))
    declared = {
        (m, p.replace("{PREFIX}", rest.PREFIX).replace("{{", "{").replace("}}", "}"))
        for m, p in declared
    }
    declared = {(m, p) for m, p in declared if "/dev/" not in p}  # only with --dev
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert declared == documented
    assert len(documented) >= 16
