"""Load benchmark of the HTTP service on loopback: finding queries and clip checks, against the CLI.

    python bench/api_load.py [--seconds 10] [--concurrency 16] [--workers N] [--checks 12] [--copies 200] [--keep]

It builds a registry database in a temporary folder (the bundled sample registry, fingerprinted; the
sample dataset scanned once by the CLI, so the findings are real ones; ``--copies`` more copies of those
clip results and findings under other scan ids, so queries run on a table of realistic size), starts
``provenance serve`` in a subprocess (``--workers`` server processes; default: the service's default, one per
CPU core) and drives it:

* **finding queries**: ``--concurrency`` clients for ``--seconds`` seconds, each request one of: all
  findings (first page), by holder, by work, by layer, by exposure, by scan, a second page (cursor),
  ``limit`` 50; requests/s, p50 and p99 latency. Target: >= 500 requests/s at p99 < 50 ms. The clients are
  lean, so that the load generator is not what is measured (an httpx client spends ~1 ms of CPU per request,
  on the same cores as the service): raw asyncio streams on uvloop, one HTTP/1.1 keep-alive connection per
  client, the requests built once; every response is still read whole and checked (status 200, a JSON body
  with ``items``) and timed. The CPU time per query of the service (summed over its processes) and of the
  client are printed.
* **clip checks**: ``--checks`` uploads (multipart, through httpx) of an 8-second clip of the sample
  (``gameplay/freedoom_e1m2_new.mp4``) with ``rescan=true`` (matched every time, no stored result reused),
  two at a time; p50 and p99 latency against the CLI's time for the same clip (the median of 3 runs of
  ``provenance scan DIR --workers 1 --rescan`` on a folder holding only that clip: what a user waits for).
  Target: p99 < 2x the CLI's time.

Every response must be 200: the run prints the count of errors (target 0). Other agents share this
machine's cores: the load average at the start is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "fixtures" / "sample"
CLIP = SAMPLE / "dataset" / "gameplay" / "freedoom_e1m2_new.mp4"
TARGET_QPS = 500.0
TARGET_P99_MS = 50.0
TARGET_CHECK_RATIO = 2.0


def _cli(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db, *args], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise SystemExit(f"provenance {' '.join(args)} failed: {run.stderr.strip()[-500:]}")
    return run


def _prepare(work: Path, copies: int) -> tuple[str, str]:
    """The database (sample registry, sample dataset scanned, ``copies`` more copies of its results) and an
    auditor key."""
    from sqlmodel import select

    from rightsdb import ClipResult, Finding, Registry
    from rightsdb.keys import create_key

    db = f"sqlite:///{work / 'bench.db'}"
    _cli(db, "registry", "import", str(SAMPLE / "registry" / "manifest.yaml"))
    _cli(db, "scan", str(SAMPLE / "dataset"), "--out", str(work / "report.json"))
    registry = Registry(db)
    try:
        with registry.session() as session:
            results = session.exec(select(ClipResult)).all()
            findings = session.exec(select(Finding)).all()
        by_clip: dict[int, list[Finding]] = {}
        for f in findings:
            by_clip.setdefault(f.clip_id, []).append(f)
        scan_id = results[0].scan_id
        from rightsdb import Scan

        with registry.session() as session:
            scan = session.get(Scan, scan_id)
        assert scan is not None
        for k in range(copies):
            with registry.write() as session:
                copy_id = f"bench-copy-{k:05d}"
                session.add(
                    Scan(
                        id=copy_id,
                        dataset=f"{scan.dataset}#{k}",
                        registry_digest=scan.registry_digest,
                        engine=scan.engine,
                        settings=scan.settings,
                        status="done",
                        clips_total=scan.clips_total,
                        clips_done=scan.clips_done,
                    )
                )
                session.flush()
                for r in results:
                    row = ClipResult(
                        scan_id=copy_id,
                        path=r.path,
                        sha256=r.sha256,
                        cache_key=None,
                        duration_s=r.duration_s,
                        exposure=r.exposure,
                        error=r.error,
                        result={},
                    )
                    session.add(row)
                    session.flush()
                    for f in by_clip.get(int(r.id or 0), []):
                        session.add(
                            Finding(
                                clip_id=int(row.id or 0),
                                layer=f.layer,
                                holder_id=f.holder_id,
                                work_id=f.work_id,
                                ai_training=f.ai_training,
                                confidence=f.confidence,
                                segments=f.segments,
                                evidence=f.evidence,
                            )
                        )
        _, key = create_key(registry, "auditor", name="bench")
        with registry.session() as session:
            n = len(session.exec(select(Finding.id)).all())
        print(f"database: {len(findings)} findings from the sample scan, {n} with {copies} copies")
    finally:
        registry.dispose()
    return db, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db: str, port: int, work: Path, workers: int | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PROVENANCE_DATA_ROOTS": str(work),
        "PROVENANCE_MEDIA_DIR": str(work / "media"),
        "PROVENANCE_CHECK_THREADS": "2",
    }
    more = ["--workers", str(workers)] if workers is not None else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "provenance", "--db", db, "serve", "--port", str(port), "--log-level", "warning", *more],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the service did not become ready in 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the service (SIGTERM: its supervisor stops its workers); kill what is left after 30 s."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(30)
    for p in tree:  # (psutil checks that each is still the process it was, not a reused pid)
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait()


def _tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by the process and each of its descendants (the service's
    supervisor and its worker processes), by pid."""
    import psutil

    out: dict[int, float] = {}
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[proc.pid] = float(times.user + times.system)
    return out


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


try:  # the service's own JSON library (a dependency): a third of the stdlib's parsing time
    from orjson import loads as _loads
except ImportError:
    _loads = json.loads  # type: ignore[assignment]


def _requests(host: str, port: int, key: str, choices: list[dict[str, Any]]) -> list[bytes]:
    """The finding queries as ready-made HTTP/1.1 requests (keep-alive)."""
    from urllib.parse import urlencode

    return [
        (
            f"GET /v1/findings?{urlencode(params)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {key}\r\nAccept: application/json\r\n\r\n"
        ).encode("ascii")
        for params in choices
    ]


class _Broken(Exception):
    """The server answered something that is not a complete HTTP/1.1 response with a Content-Length."""


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes, bool]:
    """Send one request, read one response: (status, body, whether the server keeps the connection)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _Broken(f"bad status line {lines[0][:80]!r}")
    length = None
    keep = True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
    if length is None:
        raise _Broken("response without Content-Length")
    return int(parts[1]), await reader.readexactly(length), keep


async def _queries(
    host: str, port: int, key: str, seconds: float, concurrency: int, seed: int = 7
) -> tuple[int, int, list[float], float]:
    """The finding-query phase, driven by a lean client: raw asyncio streams, one HTTP/1.1 keep-alive
    connection per concurrent client, requests built once. Every response is still checked (status 200, a
    JSON body with ``items``) and timed."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        status, body, _ = await _exchange(reader, writer, _requests(host, port, key, [{"limit": 50}])[0])
    finally:
        writer.close()
    if status != 200:
        raise SystemExit(f"finding query failed: {status} {body[:300]!r}")
    first = json.loads(body)
    cursor = first["next_cursor"]
    some = first["items"][0]
    choices: list[dict[str, Any]] = [
        {"limit": 50},
        {"holder": some["holder"], "limit": 50},
        {"work": some["work"], "limit": 50},
        {"layer": "game", "limit": 50},
        {"exposure": "high", "limit": 50},
        {"scan": some["scan"], "limit": 50},
    ]
    if cursor:
        choices.append({"limit": 50, "cursor": cursor})
    requests = _requests(host, port, key, choices)
    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < stop:
            request = rng.choice(requests)
            t = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                status, body, keep = await _exchange(*conn, request)
                ok = status == 200 and "items" in _loads(body)
                if not keep:
                    conn[1].close()
                    conn = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _Broken, ValueError):
                ok = False
                if conn is not None:
                    conn[1].close()
                    conn = None
            latencies.append(time.perf_counter() - t)
            errors += not ok
        if conn is not None:
            conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return len(latencies), errors, latencies, wall


def _run_fast(coro: Any) -> Any:
    """Run the client on uvloop when it is there (uvicorn[standard] brings it): less client CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def _checks(base: str, key: str, n: int, parallel: int) -> tuple[int, list[float]]:
    import httpx

    data = CLIP.read_bytes()
    latencies: list[float] = []
    errors = 0
    sem = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
        warm = await client.post("/v1/clips/check", files={"file": (CLIP.name, data, "video/mp4")})
        if warm.status_code != 200:
            raise SystemExit(f"clip check failed: {warm.status_code} {warm.text[:300]}")

        async def one() -> None:
            nonlocal errors
            async with sem:
                t = time.perf_counter()
                r = await client.post(
                    "/v1/clips/check", params={"rescan": "true"}, files={"file": (CLIP.name, data, "video/mp4")}
                )
                latencies.append(time.perf_counter() - t)
                errors += r.status_code != 200

        await asyncio.gather(*(one() for _ in range(n)))
    return errors, latencies


def _cli_time(db: str, work: Path, runs: int = 3) -> float:
    folder = work / "one-clip"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(CLIP, folder / CLIP.name)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        _cli(db, "scan", str(folder), "--out", str(work / "one.json"), "--workers", "1", "--rescan")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of the finding-query phase")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent clients for finding queries")
    ap.add_argument("--checks", type=int, default=12, help="clip checks to time")
    ap.add_argument("--parallel-checks", type=int, default=2, help="clip checks in flight at once")
    ap.add_argument("--copies", type=int, default=200, help="copies of the sample's findings in the database")
    ap.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes (provenance serve --workers; default: the service's default)",
    )
    ap.add_argument("--skip-checks", action="store_true", help="time finding queries only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="api-load-"))
    proc = None
    failed = False
    try:
        print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes share the cores)")
        db, key = _prepare(work, args.copies)
        cli_s = 0.0 if args.skip_checks else _cli_time(db, work)
        port = _free_port()
        proc = _serve(db, port, work, args.workers)
        base = f"http://127.0.0.1:{port}"
        cpu0, client0 = _tree_cpu(proc.pid), time.process_time()
        n, errors, lat, wall = _run_fast(_queries("127.0.0.1", port, key, args.seconds, args.concurrency))
        client_ms = (time.process_time() - client0) / max(1, n) * 1000
        cpu1 = _tree_cpu(proc.pid)
        cpu_ms = _cpu_since(cpu0, cpu1) / max(1, n) * 1000
        qps = n / wall
        p50, p99 = _pct(lat, 0.5) * 1000, _pct(lat, 0.99) * 1000
        ok = qps >= TARGET_QPS and p99 < TARGET_P99_MS and errors == 0
        failed |= not ok
        print(
            f"finding queries: {n} in {wall:.1f} s = {qps:.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"{errors} errors (concurrency {args.concurrency}; target >= {TARGET_QPS:.0f}/s at p99 < "
            f"{TARGET_P99_MS:.0f} ms: {'met' if ok else 'NOT met'})"
        )
        print(
            f"  service CPU per finding query: {cpu_ms:.2f} ms (summed over its {len(cpu1)} "
            f"process{'es' if len(cpu1) > 1 else ''}); "
            f"load client CPU per query: {client_ms:.2f} ms"
        )
        if args.skip_checks:
            return 1 if failed else 0
        check_errors, clat = asyncio.run(_checks(base, key, args.checks, args.parallel_checks))
        c50, c99 = _pct(clat, 0.5), _pct(clat, 0.99)
        ok = c99 < TARGET_CHECK_RATIO * cli_s and check_errors == 0
        failed |= not ok
        print(
            f"clip checks (8 s clip, {args.parallel_checks} at a time): {len(clat)} checks, p50 {c50:.2f} s, "
            f"p99 {c99:.2f} s, {check_errors} errors; CLI on the same clip {cli_s:.2f} s; p99 / CLI = "
            f"{c99 / cli_s:.2f} (target < {TARGET_CHECK_RATIO:.0f}: {'met' if ok else 'NOT met'})"
        )
    finally:
        if proc is not None:
            _stop(proc)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
