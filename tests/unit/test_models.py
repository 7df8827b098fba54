"""The records' fast paths agree with their slow, obvious definitions."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

from trichat.models import Message, MessageDraft, rfc3339
from trichat.service import new_message_id


def test_numbered_copies_every_field_of_the_draft() -> None:
    draft = MessageDraft(
        "c", "m", "u", "name", "Display", "http://a/b.png", "hi", "system", 17, parent_seq=3
    )
    msg = draft.numbered(42)
    assert msg.seq == 42
    assert not msg.deleted
    for f in fields(MessageDraft):
        assert getattr(msg, f.name) == getattr(draft, f.name), f.name
    state = {"deleted", "edited_at", "reply_count", "last_reply_at", "reactions"}
    assert {f.name for f in fields(Message)} == {f.name for f in fields(MessageDraft)} | {
        "seq"
    } | state  # what the store folds in later: the message's current state


def test_rfc3339_matches_datetime_across_second_boundaries() -> None:
    # repeats too: the last stamp is remembered
    for ms in (
        0,
        0,
        999,
        1000,
        1000,
        1_768_471_200_123,
        1_768_471_200_999,
        1_768_471_201_000,
        5,
        5,
        1999,
    ):
        expected = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert rfc3339(ms) == f"{expected}.{ms % 1000:03d}Z"


def test_generated_message_ids_are_unique_and_uuid_sized() -> None:
    ids = [new_message_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
