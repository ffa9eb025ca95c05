"""Files that appear whole or not at all: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path


@contextmanager
def replaced_atomically(path: str | PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; when the block ends without an error, one rename puts it
    in place (a reader never sees half a file, an interrupted write leaves the old one). In the same folder, so
    the rename cannot cross file systems."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
