"""The value rules both doors share (protocol/values.py)."""

from __future__ import annotations

import pytest

from trichat.protocol import values
from trichat.protocol.values import MAX_SEQ, canonical_uuid, has_nul, int_text, is_blank, is_seq

ID = "6da78d63-0ed9-428e-84fa-c66bf2e97bd1"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("42", 42), ("007", 7), (str(MAX_SEQ), MAX_SEQ), (str(MAX_SEQ + 1), None)]
    + [(t, None) for t in ("", "-1", "+1", " 1", "1 ", "1_0", "0x10", "1e3", "9" * 20)]
    + [(t, None) for t in ("\u00b2", "\u2460", "\uff11", "\u0663", "1\u0663")],
)
def test_int_text_takes_ascii_digits_in_range(text: str, value: int | None) -> None:
    assert int_text(text) == value


def test_int_text_has_its_own_maximum() -> None:
    assert int_text("100", maximum=100) == 100
    assert int_text("101", maximum=100) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (MAX_SEQ, True), (MAX_SEQ + 1, False), (-1, False), (True, False), (1.0, False)],
)
def test_is_seq(value: object, ok: bool) -> None:
    assert is_seq(value) is ok


@pytest.mark.parametrize(
    ("text", "canonical"),
    [(ID, ID), (ID.upper(), ID)]
    + [(t, None) for t in (f"{{{ID}}}", f"urn:uuid:{ID}", ID.replace("-", ""), ID[:-1] + "g")]
    + [(t, None) for t in ("", "general", ID + " ", " " + ID, ID[:-1] + "\uff11")],
)
def test_one_canonical_uuid(text: str, canonical: str | None) -> None:
    assert canonical_uuid(text) == canonical


# ASCII text takes a fast path (controls, spaces and DEL are blank); the rest is
# judged character by character
BLANK = ["", "  \t\n", "\x00\x1f\x7f ", "\u200b", "\u2060\ufeff\u200d", "\u3164", " \u3164\t"]
VISIBLE = ["a", "\x7f~", " . ", "\u200ba", "\U0001f600", "\u0663", "\t\u3164x"]


@pytest.mark.parametrize(
    ("text", "blank"), [(t, True) for t in BLANK] + [(t, False) for t in VISIBLE]
)
def test_is_blank_sees_invisible_text(text: str, blank: bool) -> None:
    assert is_blank(text) is blank


def test_has_nul() -> None:
    assert has_nul("a\x00") and not has_nul("a\x01b")


def test_canonical_ids_are_remembered_up_to_a_bound() -> None:
    values._known_ids.clear()
    upper = ID.upper()
    assert canonical_uuid(upper) == ID and values._known_ids[upper] == ID
    assert canonical_uuid(upper) == ID  # from memory
    assert canonical_uuid(ID[:-1] + "g") is None and len(values._known_ids) == 1  # never kept
    for n in range(values._KNOWN_MAX + 1):
        canonical_uuid(f"{n:08x}-0000-4000-8000-000000000000")
    assert len(values._known_ids) <= values._KNOWN_MAX  # forgotten past the bound
