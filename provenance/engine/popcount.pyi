"""Types of the AVX-512 Hamming search extension (``popcount.c``)."""

from typing_extensions import Buffer

def supported() -> bool: ...
def portable() -> bool: ...
def two_nearest(queries: Buffer, planes: Buffer, d1: Buffer, d2: Buffer, i1: Buffer, /) -> None: ...
def k_nearest(queries: Buffer, planes: Buffer, k: int, dist: Buffer, rows: Buffer, /) -> None: ...
def verify_ranges(
    codes: Buffer,
    postings: Buffer,
    wide: bool,
    lo: Buffer,
    size: Buffer,
    row: Buffer,
    queries: Buffer,
    r: int,
    out_q: Buffer,
    out_i: Buffer,
    out_d: Buffer,
    /,
) -> int: ...
def probe_ranges(keys: Buffer, probes: Buffer, lo: Buffer, size: Buffer, /) -> None: ...
