from __future__ import annotations

from trichat.protocol.reorder import SeqReorder


def test_in_order_passes_straight_through() -> None:
    r: SeqReorder[str] = SeqReorder(0)
    assert r.offer(1, "a", 0.0) == ["a"]
    assert r.offer(2, "b", 0.0) == ["b"]
    assert r.gap() is None and r.released == 2


def test_out_of_order_is_held_then_released_in_order() -> None:
    r: SeqReorder[str] = SeqReorder(10)
    assert r.offer(13, "c", 1.0) == []
    assert r.offer(12, "b", 2.0) == []
    assert r.gap() == (11, 11) and r.gap_opened_at == 1.0
    assert r.offer(11, "a", 3.0) == ["a", "b", "c"]
    assert r.gap() is None and r.gap_opened_at is None


def test_duplicates_and_old_are_dropped() -> None:
    r: SeqReorder[str] = SeqReorder(5)
    assert r.offer(5, "old", 0.0) == []
    assert r.offer(7, "x", 0.0) == []
    assert r.offer(7, "x again", 0.0) == []
    assert r.offer(6, "y", 0.0) == ["y", "x"]


def test_fill_releases_fetched_and_skips_missing() -> None:
    r: SeqReorder[str] = SeqReorder(0)
    r.offer(5, "e", 0.0)
    # the store had 1, 2 and 4 (3 was never there, e.g. a deleted message skipped)
    ready = r.fill([(1, "a"), (2, "b"), (4, "d")], 1.0, upto=4)
    assert ready == ["a", "b", "d", "e"] and r.released == 5
    assert r.gap_opened_at is None


def test_fill_stops_at_upto_and_keeps_gap_beyond() -> None:
    r: SeqReorder[str] = SeqReorder(0)
    r.offer(10, "j", 0.0)
    assert r.fill([(1, "a"), (2, "b")], 5.0, upto=2) == ["a", "b"]
    assert r.gap() == (3, 9) and r.gap_opened_at == 5.0


def test_overfull() -> None:
    r: SeqReorder[int] = SeqReorder(0, max_held=3)
    for seq in (3, 4, 5):
        r.offer(seq, seq, 0.0)
    assert r.overfull
