"""The decoding a scan cannot avoid: exactly the frames the engine samples from each clip, decoded and nothing else.

    python bench/decode_floor.py JOB.json    # {"files": [...], "workers": N}

Run by :mod:`speed_bench` in a subprocess (measured like the scan and vPDQ: wall, CPU, peak PSS of its process
tree): ``workers`` spawned processes of one thread each (as the scan's workers: ``one_thread_per_process``)
each call :func:`~provenance.engine.sampling.decode_only` on their share of the files (grey frames at the
engine's rate and size and the asset pass's RGB copies, the non-reference frames that no sample needs left
undecoded). What the scan spends beyond this row is matching; what this row costs against vPDQ's is the part
of the gap that no matching change can close.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _start() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from provenance.engine.sampling import one_thread_per_process

    one_thread_per_process()


def _decode(path: str) -> int:
    from provenance.engine.sampling import decode_only
    from provenance.errors import ProvenanceError

    try:
        return decode_only(Path(path))
    except (ProvenanceError, OSError):  # a clip that does not decode costs what it cost; the scan reports it
        return 0


def command(job: dict[str, object], job_path: Path) -> list[str]:
    """The command decoding ``job["files"]`` in ``job["workers"]`` processes; the job is written to ``job_path``."""
    job_path.write_text(json.dumps(job), encoding="utf-8")
    return [sys.executable, str(Path(__file__).resolve()), str(job_path)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    files = sorted(job["files"], key=lambda f: -Path(f).stat().st_size)  # the largest first, as the scan
    with mp.get_context("spawn").Pool(int(job["workers"]), initializer=_start) as pool:
        frames = sum(pool.imap_unordered(_decode, files, chunksize=1))
    print(f"{len(files)} files, {frames} frames decoded", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
