"""A tar archive read in place: its regular members listed from the headers, a member's bytes read without copying.

Nothing is extracted: ``tarfile`` in ``"r:"`` mode walks the headers of the plain shard file, and a
member's bytes are read where they lie when its clip is opened.

Member names are used as :func:`member_path` normalises them (``./a//b.mp4`` is ``a/b.mp4``); a name that
escapes the archive (absolute, or ``..`` above its root: ``../../evil.mp4``) has none and is never read.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar, cast

from provenance.dataset.paths import os_reason
from provenance.errors import DecodeError, ShardBroken
from provenance.media.files import open_regular

__all__ = ["member_offsets", "member_path", "members", "open_member", "open_shard", "read_member"]

_T = TypeVar("_T")
_BLOCK = tarfile.BLOCKSIZE


def member_path(name: str) -> str | None:
    """A member's name as a relative POSIX path without ``.``, ``..`` or empty parts (``./a//b.mp4`` ->
    ``a/b.mp4``), or None when it leaves the archive: absolute, or ``..`` above its root."""
    if not name or name.startswith("/"):
        return None
    norm = posixpath.normpath(name)
    if norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


def members(raw: BinaryIO, size: int) -> Iterator[tarfile.TarInfo]:
    """Regular-file members of the tar archive ``raw`` (``size`` bytes) in archive order, from headers only.

    Raises :class:`ShardBroken` after the last good member when the archive is cut short (a
    member's data runs past the end, or the end-of-archive marker is missing) or corrupt. A
    member whose data is cut short is not yielded.
    """
    if size == 0:
        raise ShardBroken("empty file (0 bytes), not a tar archive")
    try:
        tf = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - reads headers of the caller's file
    except (tarfile.TarError, OSError) as exc:
        raise ShardBroken(f"not a readable tar archive ({exc})") from exc
    last: str | None = None

    def after() -> str:
        return f"after member {last!r}" if last is not None else "before its first member"

    while True:
        try:
            info = tf.next()
        except (tarfile.TarError, OSError) as exc:
            raise ShardBroken(f"corrupt or truncated tar shard {after()}: {exc}") from exc
        if info is None:
            break
        if not info.isreg():
            continue
        if not info.issparse() and info.offset_data + info.size > size:
            have = max(0, size - info.offset_data)
            raise ShardBroken(
                f"truncated tar shard: member {info.name!r} is cut short ({have} of {info.size} bytes), {after()}"
            )
        last = info.name
        yield info
    _check_end(raw, tf.offset, size, after())


def _check_end(raw: BinaryIO, offset: int, size: int, after: str) -> None:
    """Raise :class:`ShardBroken` (its message ending with ``after``) when the archive does not end properly at
    ``offset`` (tarfile stops quietly there)."""
    raw.seek(offset)
    block = raw.read(_BLOCK)
    if not block:
        raise ShardBroken(f"truncated tar shard: it ends at byte {size} without the end-of-archive marker, {after}")
    if len(block) < _BLOCK:
        raise ShardBroken(f"truncated tar shard: it ends inside a member header at byte {offset}, {after}")
    if block.count(0) != _BLOCK:
        raise ShardBroken(f"corrupt tar shard: invalid member header at byte {offset}, {after}")


def open_shard(shard: Path) -> tuple[BinaryIO, int]:
    """The shard file opened for reading (the caller closes it) and its size in bytes."""
    raw = open_regular(shard)  # the caller closes it; a FIFO or a device is refused, never waited on
    return raw, os.fstat(raw.fileno()).st_size


def read_member(raw: BinaryIO, info: tarfile.TarInfo) -> bytes:
    """A small member's bytes, read in place (the caller's position in ``raw`` is restored)."""
    here = raw.tell()
    try:
        raw.seek(info.offset_data)
        return raw.read(info.size)
    finally:
        raw.seek(here)


def member_offsets(shard: Path) -> Iterator[tuple[str, int, int]]:
    """Name, header offset and size of every regular member of ``shard``, in archive order.

    Raises :class:`ShardBroken` saying what broke the shard's listing (after the good members), or
    that the shard cannot be read.
    """
    try:
        raw, size = open_shard(shard)
    except OSError as exc:
        raise ShardBroken(f"cannot read shard: {os_reason(shard, exc)}") from exc
    with raw:
        for info in members(raw, size):
            yield info.name, int(info.offset), int(info.size)


def open_member(shard: Path, member: str, offset: int | None, name: str) -> BinaryIO:
    """A member's bytes, read in place through ``tarfile.extractfile`` (seekable: the shard is a plain file).
    ``member`` is the name as :func:`member_path` gives it (the archive's own spelling is found as well)."""
    try:
        raw, _ = open_shard(shard)
    except OSError as exc:
        raise DecodeError(name, f"cannot read shard: {os_reason(shard, exc)}") from exc
    try:
        tf = tarfile.open(fileobj=raw, mode="r:")  # noqa: SIM115 - _MemberFile closes raw
        info = _member_at(tf, raw, offset, member) if offset is not None else None
        if info is None:
            info = _scan_for(tf, member)
        if info is None:
            raise DecodeError(name, f"no member {member!r} in shard {shard}")
        inner = tf.extractfile(info)
        if inner is None:
            raise DecodeError(name, "not a regular file in the shard")
    except (tarfile.TarError, OSError) as exc:
        raw.close()
        raise DecodeError(name, f"cannot read shard: {exc}") from exc
    except BaseException:
        raw.close()
        raise
    return cast(BinaryIO, _MemberFile(inner, raw, name))


def _member_at(tf: tarfile.TarFile, raw: BinaryIO, offset: int, member: str) -> tarfile.TarInfo | None:
    """The member whose header starts at ``offset``, if it is ``member`` (else None: look it up by name)."""
    try:
        raw.seek(offset)
        info = tarfile.TarInfo.fromtarfile(tf)
    except (tarfile.HeaderError, OSError):
        return None
    return info if _is(info, member) else None


def _scan_for(tf: tarfile.TarFile, member: str) -> tarfile.TarInfo | None:
    for info in iter(tf.next, None):
        if _is(info, member):
            return info
    return None


def _is(info: tarfile.TarInfo, member: str) -> bool:
    """Whether ``info`` is the regular member called ``member`` (as written, or normalised)."""
    return info.isreg() and (info.name == member or (member_path(info.name) or info.name) == member)


class _MemberFile(io.BufferedIOBase):
    """A tar member's bytes (tarfile's in-place reader) that closes the shard file with itself.

    A shard that changed under us since listing reads as an ``OSError`` (EIO), which the decoders
    and :meth:`ClipSource.sha256` turn into one-line errors, not as a ``tarfile`` error.
    """

    def __init__(self, inner: IO[bytes], shard: BinaryIO, name: str) -> None:
        super().__init__()
        self._inner = inner
        self._shard = shard
        self.name = name  # FFmpeg uses it as a format hint (the member's extension)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._guard(lambda: self._inner.read(-1 if size is None else size))

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._guard(lambda: self._inner.seek(offset, whence))

    def tell(self) -> int:
        return self._inner.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._shard.close()
        super().close()

    def _guard(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except tarfile.TarError as exc:
            raise OSError(errno.EIO, f"{self.name}: {exc}") from exc
