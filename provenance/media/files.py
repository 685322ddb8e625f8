"""Opening a media file for reading: regular files only, so that no read can wait forever.

A FIFO, a socket, a character device (``/dev/zero``, a terminal) or a folder is not a clip: opening a FIFO
blocks until a writer comes, and ``/dev/zero`` never ends. :func:`open_regular` opens without blocking
(``O_NONBLOCK``), checks what it opened (``fstat``: no race with a file swapped after a check by name) and
refuses anything but a regular file with an :class:`OSError` whose message says what the file is.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

__all__ = ["NotRegularFile", "file_kind", "open_regular"]


class NotRegularFile(OSError):
    """The path names something other than a regular file (its ``strerror`` says what)."""


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``a FIFO``, ``a character device``, ``a folder`` ..."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return name
    return "not a file"


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for binary reading when it is a regular file (symbolic links followed); the file object
    is ``open``'s own (its ``name`` is ``path``: decoders take the suffix as a format hint).

    Raises :class:`NotRegularFile` (an ``OSError``, ``strerror`` e.g. ``not a regular file (a FIFO (named
    pipe))``) for anything else, without ever blocking on it; other ``OSError`` as ``open`` raises them.
    """
    return open(path, "rb", opener=_open_checked)


def _open_checked(path: str, flags: int) -> int:
    """``open``'s opener: the descriptor of ``path`` opened without blocking, refused unless a regular file."""
    flags |= os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:  # a socket cannot be opened at all (ENXIO): say what it is
        try:
            mode = os.stat(path).st_mode
        except OSError:
            raise exc from None
        if stat.S_ISREG(mode):
            raise
        raise NotRegularFile(exc.errno, f"not a regular file ({file_kind(mode)})", str(path)) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(errno.EINVAL, f"not a regular file ({file_kind(mode)})", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
