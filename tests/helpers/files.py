"""Files made to fail as a failing disk would: `chattr +i` (immutable), which even
root cannot write, then undone."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHATTR = shutil.which("chattr") or "/usr/bin/chattr"


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    if not Path(CHATTR).exists():
        raise RuntimeError("chattr not found: apt-get install e2fsprogs")
    subprocess.run([CHATTR, "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run([CHATTR, "-i", str(path)], check=True)
