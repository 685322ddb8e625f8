"""Paths of a dataset: a clip's file below its root, a path that points into a ``.tar`` shard, OS error reasons."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["join", "os_reason", "split_member"]


def os_reason(path: Path, exc: OSError) -> str:
    """One-line reason of an OS error; a broken symbolic link is named as such."""
    if isinstance(exc, FileNotFoundError) and path.is_symlink():
        try:
            return f"broken symbolic link to {os.readlink(path)!r}"
        except OSError:
            return "broken symbolic link"
    return exc.strerror or str(exc)


def join(root: Path, path: str) -> Path:
    """``path`` below ``root``, or ``path`` itself when it is absolute."""
    p = Path(path)
    return p if p.is_absolute() else root / p


def split_member(root: Path, path: str, member: str | None) -> tuple[Path, str] | None:
    """(shard file, member name) when ``path`` points into a ``.tar`` shard, else None.

    With ``member`` known (a report clip), the shard is ``path`` minus ``/member``; otherwise the
    first ``*.tar`` component that is a file on disk splits the path.
    """
    if member is not None and path.endswith("/" + member):
        return join(root, path[: -len(member) - 1]), member
    lower = path.lower()
    start = 0
    while (i := lower.find(".tar/", start)) >= 0:
        shard = join(root, path[: i + 4])
        if shard.is_file():
            return shard, path[i + 5 :]
        start = i + 1
    return None
