"""Schema-driven fuzzing: schemathesis generates requests from /openapi.json and
sends them to a real `trichat run`; no input may produce a 5xx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SECRET = "fuzz-secret-of-sufficient-length-for-hs256-xx"


@pytest.fixture(scope="session")
def trichat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("fuzz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRICHAT_")}
    env.update(
        {
            "PORT": "0",
            "TRICHAT_DATA_DIR": str(data),
            "TRICHAT_JWT_SECRET": SECRET,
            "TRICHAT_LOG_LEVEL": "info",
        }
    )
    # the log goes to a file: a pipe nobody reads would fill and block the server
    log_path = data / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "trichat", "run"], env=env, stderr=log)
    port = None
    deadline = time.monotonic() + 30
    while port is None and time.monotonic() < deadline and proc.poll() is None:
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text())
        port = int(match.group(1)) if match else None
        time.sleep(0.05)  # polling a file the server writes: there is no event to wait on
    assert port, "trichat did not start:\n" + log_path.read_text()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        errors = log_path.read_text()
        assert "Traceback" not in errors, errors


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
    from trichat.web import rest

    source = Path(rest.__file__).read_text()
    declared = set(re.findall(r"@route\(\s*\"(\w+)\",\s*f?\"([^\"]+)\"", source))
    declared = {
        (m, p.replace("{PREFIX}", rest.PREFIX).replace("{{", "{").replace("}}", "}"))
        for m, p in declared
    }
    declared = {(m, p) for m, p in declared if "/dev/" not in p}  # only with --dev
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert declared == documented
    assert len(documented) >= 16
