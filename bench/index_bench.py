"""Benchmark the match indexes: multi-index hashing against brute force.

    python bench/index_bench.py [--rows 1000000] [--queries 1000] [--bf-queries 20] [--seed 0]

For 64-bit hashes within 8 bits and 256-bit hashes within 31 bits, on (a) uniformly random hashes
and (b) clustered "real-like" hashes (shots: each row is a seed hash with a few bits flipped, as
consecutive frames of one shot are), prints build time, memory of the arrays, queries per second of
MIH and of brute force, the speed-up, and an exactness check (MIH result == brute-force result on the
brute-force query sample). Queries are half near-duplicates of stored rows, half random.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.engine.index import BruteForceIndex, MultiIndexHashIndex, make_index


def random_hashes(rng: np.random.Generator, n: int, bits: int) -> npt.NDArray[np.uint8]:
    return rng.integers(0, 256, (n, bits // 8), dtype=np.uint8)


def flip(rng: np.random.Generator, h: npt.NDArray[np.uint8], p: float) -> npt.NDArray[np.uint8]:
    """Flip each bit independently with probability p (in blocks to bound memory)."""
    out = np.empty_like(h)
    for s in range(0, h.shape[0], 1 << 16):
        b = np.unpackbits(h[s : s + (1 << 16)], axis=1)
        b ^= (rng.random(b.shape) < p).astype(np.uint8)
        out[s : s + (1 << 16)] = np.packbits(b, axis=1)
    return out


def clustered(rng: np.random.Generator, n: int, bits: int, shot_len: int = 50) -> npt.NDArray[np.uint8]:
    """Shots of ~shot_len frames: a seed per shot, each frame 2-6% of bits away from it."""
    seeds = random_hashes(rng, max(1, n // shot_len), bits)
    rows = seeds[np.sort(rng.integers(0, seeds.shape[0], n))]
    return flip(rng, rows, float(rng.uniform(0.02, 0.06)))


def nbytes(idx: BruteForceIndex | MultiIndexHashIndex) -> int:
    total = idx._hashes.nbytes + idx._ids.nbytes + idx._alive.nbytes
    total += idx._sorted_ids.nbytes + idx._sorted_rows.nbytes
    if isinstance(idx, MultiIndexHashIndex):
        total += sum(k.nbytes for k in idx._keys) + sum(p.nbytes for p in idx._perm)
    return total


def same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def bench(name: str, data: npt.NDArray[np.uint8], bits: int, r: int, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed + 1)
    n = data.shape[0]
    ids = np.arange(n, dtype=np.int64)
    near = flip(rng, data[rng.integers(0, n, args.queries // 2)], r / bits / 2)
    queries = np.concatenate([near, random_hashes(rng, args.queries - near.shape[0], bits)])
    queries = queries[rng.permutation(queries.shape[0])]

    bf = BruteForceIndex(bits)
    t0 = time.perf_counter()
    bf.add(ids, data)
    t_bf_build = time.perf_counter() - t0

    mih = make_index(bits, r, "mih", expected_size=n)
    assert isinstance(mih, MultiIndexHashIndex)
    t0 = time.perf_counter()
    mih.add(ids, data)
    mih._merge_buffer()  # build the tables now, not at the first search
    t_mih_build = time.perf_counter() - t0

    sample = queries[: args.bf_queries]
    t0 = time.perf_counter()
    res_bf = bf.search(sample, r)
    t_bf = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_mih = mih.search(queries, r)
    t_mih = time.perf_counter() - t0
    res_mih_sample = mih.search(sample, r)

    qps_bf = sample.shape[0] / t_bf
    qps_mih = queries.shape[0] / t_mih
    print(
        f"{name:<10} {bits:>3}-bit r={r:<2} rows={n:>9,} chunks={mih.chunks:<2} "
        f"build: bf {t_bf_build:6.2f}s mih {t_mih_build:6.2f}s | mem: bf {nbytes(bf) / 2**20:7.1f} MB "
        f"mih {nbytes(mih) / 2**20:7.1f} MB | q/s: bf {qps_bf:8.1f} mih {qps_mih:9.1f} "
        f"x{qps_mih / qps_bf:6.1f} | matches/query {res_mih[0].size / queries.shape[0]:7.1f} | "
        f"exact on {sample.shape[0]} queries: {same(res_bf, res_mih_sample)}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--bf-queries", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    for bits, r in ((64, 8), (256, 31)):
        bench("random", random_hashes(rng, args.rows, bits), bits, r, args)
        bench("clustered", clustered(rng, args.rows, bits), bits, r, args)


if __name__ == "__main__":
    main()
