from __future__ import annotations

import pytest

from trichat.protocol.handshake import (
    HandshakeError,
    RequestHead,
    accept_key,
    bearer_token,
    check_upgrade,
    origin_allowed,
)

GOOD = {
    "upgrade": "websocket",
    "connection": "keep-alive, Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def test_rfc6455_example_accept_key() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_upgrade() -> None:
    assert check_upgrade(RequestHead("GET", "/ws", GOOD)) == GOOD["sec-websocket-key"]


@pytest.mark.parametrize(
    ("method", "change", "status"),
    [
        ("POST", {}, 405),
        ("GET", {"upgrade": ""}, 426),
        ("GET", {"sec-websocket-version": "8"}, 426),
        ("GET", {"sec-websocket-key": "short"}, 400),
        ("GET", {"sec-websocket-key": ""}, 400),
    ],
)
def test_bad_upgrades(method: str, change: dict[str, str], status: int) -> None:
    with pytest.raises(HandshakeError) as info:
        check_upgrade(RequestHead(method, "/ws", {**GOOD, **change}))
    assert info.value.status == status


def test_bearer_then_query() -> None:
    assert bearer_token(RequestHead("GET", "/ws?token=q", {"authorization": "Bearer h"})) == "h"
    assert bearer_token(RequestHead("GET", "/ws?token=q", {})) == "q"
    assert bearer_token(RequestHead("GET", "/ws", {"authorization": "Basic x"})) is None


def test_origins() -> None:
    assert origin_allowed(None, "h:1", ())
    assert origin_allowed("http://h:1", "h:1", ())
    assert not origin_allowed("http://evil:1", "h:1", ())
    assert origin_allowed("https://a", "h", ("https://a",))
    assert not origin_allowed("https://b", "h", ("https://a",))
    assert origin_allowed("https://b", "h", ("*",))
