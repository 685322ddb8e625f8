"""Uploads: a multipart body streamed to a temporary file, never held in memory, cut off at a size limit.

Only the named file field is kept; other fields are read and dropped (each at most 64 KiB, 256 KiB in all, at
most 32 parts in a body). The upload's file name is reduced to its last component and keeps its suffix (a hint
for the decoders; content decides).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from .problems import ApiProblem

__all__ = ["Upload", "receive_upload", "safe_name"]

_FIELD_LIMIT = 64 * 1024
#: parts of one multipart body, and bytes of its fields other than the file in all: past either, 413
_PARTS_LIMIT = 32
_FIELDS_TOTAL_LIMIT = 256 * 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True, slots=True)
class Upload:
    path: Path  # the temporary file; the caller deletes it
    filename: str
    size: int

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def safe_name(name: str) -> str:
    """The last component of an uploaded file's name, without control characters, at most 200 characters."""
    last = PureWindowsPath(PurePosixPath(name).name).name
    last = _UNSAFE.sub("_", last).strip().lstrip(".") or "upload"
    if len(last) > 200:
        suffix = PurePosixPath(last).suffix[:16]
        last = last[: 200 - len(suffix)] + suffix
    return last


class _TooLarge(Exception):
    pass


class _Receiver:
    def __init__(self, field: str, limit: int, tmp_dir: str | None) -> None:
        self.field = field
        self.limit = limit
        self.tmp_dir = tmp_dir
        self.headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self.target: IO[bytes] | None = None
        self.skipping = 0
        self.in_file = False
        self.file: tuple[Path, str] | None = None
        self.size = 0
        self.duplicate = False
        self.other_file: str | None = None  # the name of a file part sent under another field name
        self.part_name = ""
        self.parts = 0
        self.skipped = 0  # bytes of every part but the file

    def on_part_begin(self) -> None:
        self.headers, self.in_file, self.skipping = {}, False, 0
        self.parts += 1
        if self.parts > _PARTS_LIMIT:
            raise ApiProblem(413, "too_large", f"multipart body with more than {_PARTS_LIMIT} parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self._name.strip().lower()] = self._value.strip()
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        self.part_name = name
        if filename is not None and name != self.field and self.other_file is None:
            self.other_file = name
        if name != self.field or filename is None:
            return
        if self.file is not None:
            self.duplicate = True
            return
        clean = safe_name(filename.decode("utf-8", "replace"))
        suffix = PurePosixPath(clean).suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""
        fd, tmp = tempfile.mkstemp(prefix="provenance-upload-", suffix=suffix, dir=self.tmp_dir)
        self.target = os.fdopen(fd, "wb")
        self.file = (Path(tmp), clean)
        self.in_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self.in_file and self.target is not None:
            self.size += n
            if self.size > self.limit:
                raise _TooLarge
            self.target.write(data[start:end])
        else:
            self.skipping += n
            self.skipped += n
            if self.skipped > _FIELDS_TOTAL_LIMIT:
                raise ApiProblem(
                    413,
                    "too_large",
                    f"multipart fields other than {self.field!r} larger than {_FIELDS_TOTAL_LIMIT // 1024} KiB in all",
                )
            if self.skipping > _FIELD_LIMIT:
                if self.file is None and self.part_name == self.other_file:  # the file, under the wrong name
                    raise ApiProblem(422, "invalid", self.missing())
                raise ApiProblem(
                    413, "too_large", f"multipart field {self.part_name!r} larger than {_FIELD_LIMIT // 1024} KiB"
                )

    def on_part_end(self) -> None:
        if self.in_file and self.target is not None:
            self.target.close()
            self.target = None
        self.in_file = False

    def missing(self) -> str:
        """Why the request has no file: the field is missing (and which field the file came in, if any)."""
        sent = f"; the file came as field {self.other_file!r}" if self.other_file is not None else ""
        return f"field {self.field!r}: missing (send the file as multipart field {self.field!r} with a filename){sent}"

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def cleanup(self) -> None:
        if self.target is not None:
            self.target.close()
            self.target = None
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file[0].unlink()


async def receive_upload(request: Request, field: str, limit: int, tmp_dir: str | None = None) -> Upload:
    """Stream the multipart field ``field`` of the request to a temporary file.

    Problems: 415 when the body is not ``multipart/form-data``, 413 past ``limit`` bytes (also when the
    declared ``Content-Length`` already says so), 422 when the field is missing, repeated or empty, 400 when
    the body is not well-formed multipart.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise ApiProblem(
            415,
            "unsupported_media_type",
            f"send the file as multipart/form-data field {field!r}, not {ctype.decode() or 'no body'}",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiProblem(400, "bad_request", "multipart/form-data without a boundary")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _FIELD_LIMIT:
        raise ApiProblem(413, "too_large", f"upload of {int(declared)} bytes is larger than the limit ({limit} bytes)")
    receiver = _Receiver(field, limit, tmp_dir)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except _TooLarge:
        receiver.cleanup()
        raise ApiProblem(413, "too_large", f"field {field!r}: upload larger than the limit ({limit} bytes)") from None
    except MultipartParseError as exc:
        receiver.cleanup()
        raise ApiProblem(400, "bad_request", f"malformed multipart body: {exc}") from None
    except BaseException:
        receiver.cleanup()
        raise
    if receiver.target is not None:  # the body ended inside the file part
        receiver.cleanup()
        raise ApiProblem(400, "bad_request", "malformed multipart body: it ends inside a part")
    if receiver.duplicate:
        receiver.cleanup()
        raise ApiProblem(422, "invalid", f"field {field!r}: send one file, not several")
    if receiver.file is None:
        raise ApiProblem(422, "invalid", receiver.missing())
    path, name = receiver.file
    if receiver.size == 0:
        receiver.cleanup()
        raise ApiProblem(422, "invalid", f"field {field!r}: the file is empty (0 bytes)")
    return Upload(path, name, receiver.size)
