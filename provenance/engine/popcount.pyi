"""Types of the Hamming search extension (``popcount.c``: AVX-512 or scalar POPCNT kernels)."""

from typing_extensions import Buffer

def supported() -> bool: ...
def portable() -> bool: ...
def isa() -> str: ...
def use_isa(name: str, /) -> None: ...
def two_nearest(queries: Buffer, planes: Buffer, d1: Buffer, d2: Buffer, i1: Buffer, /) -> None: ...
def k_nearest(queries: Buffer, planes: Buffer, k: int, dist: Buffer, rows: Buffer, /) -> None: ...
def within(queries: Buffer, planes: Buffer, r: int, out_q: Buffer, out_i: Buffer, out_d: Buffer, /) -> int: ...
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
def probe_buckets(
    keys: Buffer,
    width: int,
    starts: Buffer,
    shift: int,
    low: bool,
    probes: Buffer,
    at: Buffer,
    lo: Buffer,
    size: Buffer,
    /,
) -> int: ...
def probe_ranges(keys: Buffer, width: int, probes: Buffer, lo: Buffer, size: Buffer, /) -> None: ...
