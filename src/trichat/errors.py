"""The error catalogue: what a client sees, and how a connection ends.

`ClientError` becomes an `error` frame and never closes the socket.
`Disconnect` values are the one list of close codes the server uses.
Backends translate driver errors into `StoreUnavailable` / `BrokerUnavailable`
at their boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

# Error codes of SPEC §3, exactly.
BAD_REQUEST = "bad_request"
NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"
CHANNEL_FULL = "channel_full"
NOT_JOINED = "not_joined"
RATE_LIMITED = "rate_limited"
TOO_LONG = "too_long"
UNAUTHORIZED = "unauthorized"
UNAVAILABLE = "unavailable"
CONFLICT = "conflict"  # REST only: a channel name already taken
TOO_MANY_REACTIONS = "too_many_reactions"  # SPEC §6: 20 distinct emoji per message

ERROR_CODES = frozenset(
    {
        BAD_REQUEST,
        NOT_FOUND,
        FORBIDDEN,
        CHANNEL_FULL,
        NOT_JOINED,
        RATE_LIMITED,
        TOO_LONG,
        UNAUTHORIZED,
        UNAVAILABLE,
        CONFLICT,
        TOO_MANY_REACTIONS,
    }
)


# The HTTP status each code answers with, where it is answered over HTTP (REST, and
# refusals of the single-channel WebSocket endpoint before the upgrade).
HTTP_STATUS = {
    BAD_REQUEST: 400,
    TOO_LONG: 400,
    UNAUTHORIZED: 401,
    FORBIDDEN: 403,
    NOT_JOINED: 403,
    CHANNEL_FULL: 403,
    NOT_FOUND: 404,
    CONFLICT: 409,
    TOO_MANY_REACTIONS: 409,
    RATE_LIMITED: 429,
    UNAVAILABLE: 503,
}


class ClientError(Exception):
    """The peer asked for something it may not have; answered, never fatal."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        channel_id: str | None = None,
        message_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.channel_id = channel_id
        self.message_id = message_id
        self.retry_after = retry_after


class ConfigError(Exception):
    """A configuration value is wrong; the message names the variable and value."""


class AuthError(Exception):
    """A token is missing, malformed, expired or wrongly signed."""


class Conflict(Exception):
    """The write collides with existing data (a channel name already taken)."""


class StoreUnavailable(Exception):
    """The store cannot answer now; nothing was written."""


class BrokerUnavailable(Exception):
    """The broker cannot answer now."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """A reason the server closes a WebSocket, with its close code."""

    code: int
    reason: str


NORMAL = Disconnect(1000, "bye")
SHUTDOWN = Disconnect(1001, "server shutdown")
PROTOCOL_ERROR = Disconnect(1002, "protocol error")
BINARY_FRAME = Disconnect(1003, "binary frames are not accepted")
BAD_UTF8 = Disconnect(1007, "invalid utf-8")
TOO_BIG = Disconnect(1009, "frame too big")
SLOW_CONSUMER = Disconnect(1013, "slow consumer")
TOKEN_EXPIRED = Disconnect(4001, "token expired")
