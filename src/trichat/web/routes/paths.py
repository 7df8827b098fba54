"""The path parameters the resource routes share, checked before the service is
asked anything: a malformed id is the caller's 400, not a lookup."""

from __future__ import annotations

from trichat.protocol.values import MAX_SEQ, canonical_uuid, has_nul, int_text
from trichat.web.app import ApiError

PREFIX = "/api/v1/chat"


def channel_uuid(channel_id: str) -> str:
    canonical = canonical_uuid(channel_id)
    if canonical is None:
        raise ApiError(400, "channel id must be a UUID (8-4-4-4-12 hex digits)")
    return canonical


def valid_user_id(user_id: str) -> str:
    if not 0 < len(user_id) <= 128 or has_nul(user_id):
        raise ApiError(400, "user id must be 1..128 characters, without NUL")
    return user_id


def seq_number(seq: str) -> int:
    target = int_text(seq)
    if target is None:
        raise ApiError(400, f"seq must be an integer in 0..{MAX_SEQ} (ASCII digits)")
    return target
