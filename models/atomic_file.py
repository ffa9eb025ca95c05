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


def replace_problem(path: str | PathLike) -> str | None:
    """Why one rename cannot put a new file at `path` (as replaced_atomically and the video writer do once their
    work is done), in a few words; None when it can. Asked before long work, so that it fails at once."""
    path = Path(path)
    if path.is_dir():
        return "it is a folder"
    folder = path.parent
    if not folder.is_dir():
        return f"{folder} is not a folder" if folder.exists() else f"there is no folder {folder}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} cannot be written"
    if path.exists() and not os.access(path, os.W_OK):  # read-only, or (even for root) immutable
        return "it is read-only or locked"
    return None
