"""The SQLite store's files: the one-process lock, and a check that the files SQLite
writes are writable before it writes them.

Why the check: SQLite maps `trichat.db-shm` (the WAL index) into memory and every
reader and writer stores into that mapping. When the file stops being writable
under a running server (made immutable, its filesystem remounted read-only), the
next store into the mapping kills the process with SIGBUS: no log line, no chance
to answer. So each write batch and each read first checks the files (an
`access()` call each, about a microsecond) and refuses with `StoreUnavailable`
instead: the server logs it, `/health` reports the store down, and work resumes
once the files are writable again. `faulthandler` (enabled by `trichat run`) still
names a fatal signal that comes through the remaining window.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from trichat.errors import StoreUnavailable


def lock_file(path: Path) -> IO[bytes]:
    """Hold an exclusive lock on `path` for as long as the returned file is open."""
    file = path.open("ab")
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise OSError(f"another trichat process is using this store ({path} is locked)") from None
    return file


class WritableFiles:
    def __init__(self, database: Path) -> None:
        self.database = str(database)
        self.index = f"{database}-shm"  # what readers store into too
        self.every = (self.database, f"{database}-wal", self.index)

    def check_read(self) -> None:
        _check(self.index)

    def check_write(self) -> None:
        for path in self.every:
            _check(path)


def _check(path: str) -> None:
    if not os.access(path, os.W_OK) and os.path.exists(path):  # missing: SQLite makes it
        raise StoreUnavailable(f"sqlite: {path} is not writable")
