"""The value rules every door shares: seqs and counts, integers written as text,
channel ids, and text a person typed. Pure functions, no I/O.

One place, so that a WebSocket frame, a REST path or query and a JWT claim give the
same answer on both stores:
- an integer in text is ASCII digits only (`str.isdigit()` also takes superscript,
  circled, Arabic-Indic and fullwidth digits, and `int()` takes '+5', ' 5', '5_0');
- a seq is 0..`MAX_SEQ`, inside both stores' 64-bit integers;
- a channel id is a UUID in its 8-4-4-4-12 form, in either case, and is used in
  its one canonical form, lower case (no braces, no `urn:uuid:`, no bare hex);
- text holds no NUL (PostgreSQL's text type cannot store it), and content must
  show something: zero-width and other format characters alone are blank.
"""

from __future__ import annotations

import re
import unicodedata

MAX_SEQ = 2**62
MAX_INT64 = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# nothing to see: separators, controls, format characters (U+200B zero-width
# space, U+2060 word joiner, U+FEFF) and unassigned code points
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cn"})
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")  # Hangul fillers: letters that show nothing
_ASCII_BLANK = "".join(map(chr, range(33))) + "\x7f"  # controls, space and DEL


def int_text(text: str, *, maximum: int = MAX_SEQ) -> int | None:
    """`text` as a non-negative integer up to `maximum`, or None if it is not
    ASCII digits alone or is out of range."""
    if _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= maximum else None


def is_seq(value: object) -> bool:
    """A JSON seq: an integer (not a bool) in 0..MAX_SEQ."""
    return type(value) is int and 0 <= value <= MAX_SEQ


def canonical_uuid(text: str) -> str | None:
    """The canonical (lower-case, hyphenated) form of a channel id, or None. Every
    client frame names one, nearly always one seen before: those are remembered
    (a dict lookup, not the regular expression; up to `_KNOWN_MAX` of them)."""
    known = _known_ids.get(text)
    if known is not None:
        return known
    if len(text) != 36 or _UUID.fullmatch(text) is None:
        return None
    if len(_known_ids) >= _KNOWN_MAX:
        _known_ids.clear()
    canonical = _known_ids[text] = text.lower()
    return canonical


_KNOWN_MAX = 8_192
_known_ids: dict[str, str] = {}


def has_nul(text: str) -> bool:
    return "\x00" in text


def is_blank(text: str) -> bool:
    """True when `text` would show nothing: only spaces, controls, zero-width or
    other format characters."""
    if text.isascii():  # the common case, in C: visible unless all controls or spaces
        return not text.strip(_ASCII_BLANK)
    for ch in text:
        if ch not in _FILLERS and unicodedata.category(ch) not in _INVISIBLE:
            return False
    return True
