"""The cyclic garbage collector, tuned for a server holding thousands of connections.

CPython's full collection walks every tracked object and stops the process while it
does: with 5,000 connections (~600k objects) that is 0.3 to 0.6 s on the team's VM, and
every message in flight waits (docs/performance.md, "Garbage collector"). `tune()`:

- freezes what exists once the server is up (modules, the app, the routes), so no
  collection walks it again;
- raises the young-generation threshold, so short-lived per-message garbage is
  freed by refcount before a collection ever sees it and young collections run
  about 70 times less often;
- keeps full collections (they free closed connections' cycles: a session, its
  tasks and nursery) but rarer: `FULL_EVERY` middle collections between two.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between young collections (CPython's default: 700)
MIDDLE_EVERY = 20  # young collections per middle one (default 10)
FULL_EVERY = 100  # middle collections per full one (default 10)


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE_EVERY, FULL_EVERY)
