"""The channel log's frames (SPEC §6): edit, delete, react, unreact in; the log's
events out, as exact JSON."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from trichat.errors import ClientError
from trichat.models import EV_DELETE, EV_EDIT, EV_REACT, EV_UNREACT, LogEvent, Message
from trichat.protocol import frames
from trichat.protocol.log_frames import check_emoji, encode_change_event

CID = "6da78d63-0ed9-428e-84fa-c66bf2e97bd1"
T = 1_768_471_200_123
STAMP = "2026-01-15T10:00:00.123Z"


def parse(obj: object) -> frames.ClientFrame:
    return frames.parse(orjson.dumps(obj), max_content_chars=10)


def refused(obj: dict[str, object]) -> ClientError:
    with pytest.raises(ClientError) as info:
        parse(obj)
    return info.value


def test_parse_each_change() -> None:
    upper = CID.upper()
    assert parse(
        {"type": "edit", "channel_id": upper, "target_seq": 4, "content": "new", "message_id": "e"}
    ) == frames.Edit(CID, 4, "new", "e")
    assert parse({"type": "delete", "channel_id": CID, "target_seq": 4}) == frames.Delete(
        CID, 4, None
    )
    react = {"type": "react", "channel_id": CID, "target_seq": 4, "emoji": "👍", "message_id": "r"}
    assert parse(react) == frames.React(CID, 4, "👍", "r")
    assert parse({**react, "type": "unreact"}) == frames.React(CID, 4, "👍", "r", remove=True)
    assert parse({**react, "extra": [1], "message_id": None}) == frames.React(CID, 4, "👍", None)


def test_each_change_names_its_log_kind() -> None:
    assert frames.Edit(CID, 1, "x", None).kind == EV_EDIT
    assert frames.Delete(CID, 1, None).kind == EV_DELETE
    assert frames.React(CID, 1, "👍", None).kind == EV_REACT
    assert frames.React(CID, 1, "👍", None, remove=True).kind == EV_UNREACT


def test_target_seq_takes_every_seq() -> None:
    for seq in (0, 1, 2**62):
        assert parse({"type": "delete", "channel_id": CID, "target_seq": seq}) == frames.Delete(
            CID, seq, None
        )


FIELDS = {
    "edit": {"content": "new"},
    "delete": {},
    "react": {"emoji": "👍"},
    "unreact": {"emoji": "👍"},
}


@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"target_seq": None}, "missing field 'target_seq'"),
        ({"target_seq": -1}, "'target_seq' must be an integer in 0.."),
        ({"target_seq": 2**62 + 1}, "'target_seq' must be an integer in 0.."),
        ({"target_seq": "4"}, "'target_seq' must be an integer in 0.."),
        ({"target_seq": True}, "'target_seq' must be an integer in 0.."),
        ({"target_seq": 4.0}, "'target_seq' must be an integer in 0.."),
        ({"message_id": ""}, "'message_id' must be 1..64"),
        ({"message_id": "m" * 65}, "'message_id' must be 1..64"),
        ({"message_id": 5}, "'message_id' must be a string"),
    ],
)
def test_change_bad_target_or_id(kind: str, change: dict[str, object], says: str) -> None:
    frame = {"type": kind, "channel_id": CID, "target_seq": 4, "message_id": "m"}
    err = refused({**frame, **FIELDS[kind], **change})
    assert (err.code, err.channel_id) == ("bad_request", CID)
    assert says in err.message


@pytest.mark.parametrize("kind", sorted(FIELDS))
@pytest.mark.parametrize(
    ("channel", "says"),
    [(None, "missing field 'channel_id'"), (7, "must be a string"), ("", "must not be empty")],
)
def test_change_bad_channel(kind: str, channel: object, says: str) -> None:
    frame = {"type": kind, "channel_id": channel, "target_seq": 4, **FIELDS[kind]}
    err = refused(frame)
    assert err.code == "bad_request" and says in err.message


def test_a_channel_id_that_is_no_uuid_stays_as_sent() -> None:
    """No channel has it: the service answers `not_found`, as for `message`."""
    assert parse({"type": "delete", "channel_id": "nope", "target_seq": 1}) == frames.Delete(
        "nope", 1, None
    )


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        (None, "bad_request", "missing field 'content'"),
        (3, "bad_request", "'content' must be a string"),
        ("", "bad_request", "content must not be empty"),
        (" \u200b\n", "bad_request", "content must not be empty"),
        ("a\x00", "bad_request", "must not contain NUL"),
        ("x" * 11, "too_long", "longer than 10 characters"),
    ],
)
def test_edit_content_has_the_limits_of_a_message(content: object, code: str, says: str) -> None:
    frame = {"type": "edit", "channel_id": CID, "target_seq": 4, "message_id": "e"}
    err = refused({**frame, "content": content})
    assert (err.code, err.channel_id, err.message_id) == (code, CID, "e")
    assert says in err.message


def test_edit_content_counts_characters() -> None:
    frame = {"type": "edit", "channel_id": CID, "target_seq": 4, "content": "ü" * 10}
    assert parse(frame) == frames.Edit(CID, 4, "ü" * 10, None)


@pytest.mark.parametrize(
    "emoji",
    ["👍", "x", "+1", "🇫🇷", "👩‍👩‍👧‍👦", "❤️", "e" * 32, "🎉" * 32, ":party_parrot:"],
)
@pytest.mark.parametrize("kind", ["react", "unreact"])
def test_emoji_accepted(kind: str, emoji: str) -> None:
    frame = parse({"type": kind, "channel_id": CID, "target_seq": 1, "emoji": emoji})
    assert isinstance(frame, frames.React) and frame.emoji == emoji


@pytest.mark.parametrize(
    ("emoji", "says"),
    [
        (None, "missing field 'emoji'"),
        (["👍"], "'emoji' must be a string"),
        ("", "emoji must be 1..32 characters"),
        ("🎉" * 33, "emoji must be 1..32 characters"),
        ("a\x00", "must not contain NUL"),
        ("a b", "must not contain whitespace"),
        ("👍\n", "must not contain whitespace"),
        ("\t", "must not contain whitespace"),
        ("a\u00a0b", "must not contain whitespace"),  # no-break space
        ("a\u3000b", "must not contain whitespace"),  # ideographic space
        ("a\u2028b", "must not contain whitespace"),  # line separator
        ("a\x85b", "must not contain whitespace"),  # next line
        ("a\x07", "control characters"),
        ("a\x9b", "control characters"),
        ("\u200b", "emoji must show something"),
        ("\u200d\ufeff\u2060", "emoji must show something"),
    ],
)
@pytest.mark.parametrize("kind", ["react", "unreact"])
def test_emoji_refused(kind: str, emoji: object, says: str) -> None:
    frame = {"type": kind, "channel_id": CID, "target_seq": 1, "emoji": emoji, "message_id": "r"}
    err = refused(frame)
    assert (err.code, err.channel_id, err.message_id) == ("bad_request", CID, "r")
    assert says in err.message


def test_check_emoji_is_the_rule_for_every_door() -> None:
    assert check_emoji("👍") == "👍"
    with pytest.raises(ClientError) as info:
        check_emoji("a b", channel_id=CID)
    assert (info.value.code, info.value.channel_id) == ("bad_request", CID)


# ---- events out -----------------------------------------------------------------


def event(kind: str, **more: Any) -> LogEvent:
    return LogEvent(CID, 12, kind, 7, "op-1", "alice", T, **more)


def test_encode_edited() -> None:
    assert orjson.loads(frames.encode_edited(event(EV_EDIT, content="fixed"))) == {
        "type": "message_edited",
        "channel_id": CID,
        "seq": 12,
        "target_seq": 7,
        "content": "fixed",
        "edited_at": STAMP,
        "user_id": "alice",
    }


def test_encode_deleted_event_is_v2() -> None:
    assert orjson.loads(frames.encode_deleted_event(event(EV_DELETE))) == {
        "type": "message_deleted",
        "channel_id": CID,
        "seq": 12,
        "target_seq": 7,
        "user_id": "alice",
    }


@pytest.mark.parametrize(
    ("kind", "name", "count"),
    [(EV_REACT, "reaction_added", 3), (EV_UNREACT, "reaction_removed", 0)],
)
def test_encode_reaction(kind: str, name: str, count: int) -> None:
    assert orjson.loads(frames.encode_reaction(event(kind, emoji="🇫🇷", count=count))) == {
        "type": name,
        "channel_id": CID,
        "seq": 12,
        "target_seq": 7,
        "emoji": "🇫🇷",
        "user_id": "alice",
        "count": count,
    }


def test_encode_log_event_dispatches_by_kind() -> None:
    msg = Message(CID, 7, "m", "alice", "alice", None, None, "hi", "user", T)
    assert frames.encode_log_event(msg) == frames.encode_message(msg)
    edit = event(EV_EDIT, content="x")
    assert frames.encode_log_event(edit) == frames.encode_edited(edit)
    assert frames.encode_log_event(event(EV_DELETE)) == frames.encode_deleted_event(
        event(EV_DELETE)
    )
    for kind in (EV_REACT, EV_UNREACT):
        ev = event(kind, emoji="👍", count=1)
        assert frames.encode_log_event(ev) == frames.encode_reaction(ev)


def test_an_unknown_event_kind_is_our_bug() -> None:
    with pytest.raises(ValueError, match="not a change kind"):
        encode_change_event(event("message"))


def test_encode_change_ack() -> None:
    assert orjson.loads(frames.encode_change_ack(CID, "op-1", 12, T)) == {
        "type": "ack",
        "channel_id": CID,
        "message_id": "op-1",
        "seq": 12,
        "timestamp": STAMP,
    }
    held = orjson.loads(frames.encode_change_ack(CID, "op-2", None, T))
    assert held == {
        "type": "ack",
        "channel_id": CID,
        "message_id": "op-2",
        "seq": None,
        "timestamp": STAMP,
    }
