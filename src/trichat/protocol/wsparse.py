"""Client → server WebSocket frames (RFC 6455 §5), sans-IO: feed bytes, get events.

trichat's own parser for what clients send, instead of wsproto's: on the S2 load
(1,000 channels x 5, every member sending) wsproto's event generator took ~18 % of
the trio thread's time with the GIL, for frames that are nearly always one masked
text frame in one read (docs/performance.md, "Reading client frames"). This one
parses such a frame with a few slices and one big-integer XOR, and keeps no
generator or per-connection object graph.

What it enforces: frames must be masked, reserved bits clear (no extension is ever
negotiated), known opcodes, control frames unfragmented and ≤ 125 bytes, fragments
in order, text valid UTF-8, a message's total size ≤ `max_message`, close payloads
well formed. A violation is reported once, as a `FAIL` event carrying the close to
send (1002, 1003, 1007, 1009). After 1002 the byte stream cannot be trusted and
nothing more is parsed; after the others framing is intact, so data frames are
dropped but control frames (the peer's close) are still reported.
"""

from __future__ import annotations

from typing import Any

from trichat.errors import BAD_UTF8, BINARY_FRAME, PROTOCOL_ERROR, TOO_BIG, Disconnect

# event kinds: (TEXT, str), (PING, bytes), (PONG, bytes), (CLOSE, code), (FAIL, Disconnect)
TEXT, PING, PONG, CLOSE, FAIL = range(5)

_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NO_CODE = 1005  # a close frame without a status code (RFC 6455 §7.1.5)

Event = tuple[int, Any]


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the repeated 4-byte `mask`."""
    n = len(payload)
    if not n:
        return payload
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def valid_close_code(code: int) -> bool:
    """May a peer send this code (RFC 6455 §7.4, IANA registry)?"""
    return (1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999


class ClientFrames:
    __slots__ = ("_buf", "_dead", "_failed", "_max", "_need", "_parts", "_size", "_skip")

    def __init__(self, max_message: int) -> None:
        self._max = max_message
        self._buf = bytearray()
        self._need = 0  # bytes the buffered partial frame needs before it can parse
        self._skip = 0  # payload bytes of a refused frame still to discard
        self._parts: list[bytes] | None = None  # a fragmented text message so far
        self._size = 0
        self._failed = False  # a FAIL was reported: data frames are dropped
        self._dead = False  # a 1002 or a close: nothing more is parsed

    def feed(self, data: bytes) -> list[Event]:
        """Parse what `data` completes; keep the rest for the next call."""
        if self._dead:
            return []
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return []
            data = bytes(self._buf)
            self._buf.clear()
        events: list[Event] = []
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            self._need = 0  # a header: any new byte may complete it
            if end - pos < 2:
                break
            b0, b1 = data[pos], data[pos + 1]
            n, head = b1 & 0x7F, 2
            if n >= 126:
                head = 4 if n == 126 else 10
                if end - pos < head:
                    break
                n = int.from_bytes(data[pos + 2 : pos + head], "big")
            opcode = b0 & 0x0F
            wrong = self._wrong(b0, b1, opcode, n)
            if wrong:
                return self._die(events, wrong)
            refused = self._failed or opcode == _BINARY or self._size + n > self._max
            if opcode < _CLOSE and refused:
                # refused at its header: its payload is skipped, never buffered
                if not self._failed:
                    self._failed = True
                    events.append((FAIL, BINARY_FRAME if opcode == _BINARY else TOO_BIG))
                self._parts, self._size = None, 0
                self._skip = n + 4
                pos += head
                continue
            total = head + 4 + n
            if end - pos < total:
                self._need = total
                break
            payload = unmask(data[pos + head + 4 : pos + total], data[pos + head : pos + head + 4])
            pos += total
            if opcode < _CLOSE:
                self._data_frame(events, payload, b0 & 0x80)
            elif opcode == _PING:
                events.append((PING, payload))
            elif opcode == _PONG:
                events.append((PONG, payload))
            else:
                return self._close(events, payload)
        if pos < end:
            self._buf += data[pos:]
        return events

    def _wrong(self, b0: int, b1: int, opcode: int, n: int) -> str:
        """What breaks the protocol in this frame header, if anything ("" if not)."""
        if not b1 & 0x80 or b0 & 0x70 or n >> 63:
            return "unmasked frame, reserved bits or bad length"
        if opcode >= _CLOSE:
            return "bad control frame" if opcode > _PONG or n > 125 or not b0 & 0x80 else ""
        if opcode > _BINARY:
            return "unknown opcode"
        if not self._failed and (opcode == _CONT) != (self._parts is not None):
            return "fragments out of order"
        return ""

    def _data_frame(self, events: list[Event], payload: bytes, fin: int) -> None:
        if fin and self._parts is None:  # the common case: a whole message in one frame
            whole = payload
        else:
            parts = self._parts if self._parts is not None else []
            parts.append(payload)
            self._size += len(payload)
            if not fin:
                self._parts = parts
                return
            whole, self._parts, self._size = b"".join(parts), None, 0
        try:
            events.append((TEXT, whole.decode()))
        except UnicodeDecodeError:
            self._failed = True
            events.append((FAIL, BAD_UTF8))

    def _close(self, events: list[Event], payload: bytes) -> list[Event]:
        """The peer's close: nothing after it is parsed (RFC 6455 §5.5.1)."""
        self._dead = True
        if not payload:
            events.append((CLOSE, NO_CODE))
            return events
        code = int.from_bytes(payload[:2], "big")
        if len(payload) < 2 or not valid_close_code(code):
            events.append((FAIL, PROTOCOL_ERROR))
            return events
        try:
            payload[2:].decode()
        except UnicodeDecodeError:
            events.append((FAIL, BAD_UTF8))
            return events
        events.append((CLOSE, code))
        return events

    def _die(self, events: list[Event], why: str) -> list[Event]:
        self._dead = True
        events.append((FAIL, Disconnect(PROTOCOL_ERROR.code, f"protocol error: {why}")))
        return events
