"""The command line in the forms new users type it: global options after the command, ``-h``, ``--flag=true``,
one clip as the dataset, ``--out -``, a selection, a dry run, ``--jsonl``, progress without a terminal.

Real processes (``python -m provenance``) with stderr and stdout piped, as in CI or a pipeline; the registry is
the bundled sample's.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from provenance.audit import ClipDone
from provenance.media.probe import probe

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample"
CLIP = SAMPLE / "dataset" / "reupload" / "e1m1_reencode.mp4"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """``provenance ARGS`` as a pipeline runs it: no terminal, no COLUMNS, no PROVENANCE_DB."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PROVENANCE_DB", "COLUMNS", "LINES")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample registry imported with the global option typed after the command (``import M --db URL``)."""
    folder = tmp_path_factory.mktemp("db")
    url = f"sqlite:///{folder / 'sample.db'}"
    result = run("registry", "import", str(SAMPLE / "registry" / "manifest.yaml"), "--db", url, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "sample.db").is_file() and not (folder / "provenance.db").exists()
    yield url


def test_global_options_after_the_command(sample_db: str, tmp_path: Path) -> None:
    listed = run("registry", "list", "--db", sample_db, "--layer", "ugc", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "corridor" in listed.stdout.lower() and not (tmp_path / "provenance.db").exists()
    # both places: the command's wins; --verbose=true / --debug=false as users type them
    both = run(
        "--db", "sqlite:///nowhere/x.db", "registry", "list", f"--db={sample_db}", "--verbose=true", cwd=tmp_path
    )
    assert both.returncode == 0, both.stderr
    assert "5 work(s)" in both.stderr
    off = run("registry", "list", "--debug=false", "--verbose=no", "--db", sample_db, cwd=tmp_path)
    assert off.returncode == 0 and "5 work(s)" in off.stderr
    refused = run("registry", "list", "--verbose=maybe", "--db", sample_db, cwd=tmp_path)
    assert refused.returncode == 2 and "does not take a value" in refused.stderr
    env = run("registry", "list", cwd=tmp_path, env={"PROVENANCE_DB": sample_db})  # the variable still works
    assert env.returncode == 0 and "5 work(s)" in env.stderr


def test_help_with_h_reads_as_usual(tmp_path: Path) -> None:
    for args in (["-h"], ["scan", "-h"], ["registry", "-h"], ["registry", "import", "-h"], ["keys", "create", "-h"]):
        shown = run(*args, cwd=tmp_path, env={"COLUMNS": "100"})
        assert shown.returncode == 0, (args, shown.stderr)
        assert shown.stdout.lstrip().startswith("Usage: provenance"), args
    scan_help = run("scan", "--help", cwd=tmp_path, env={"COLUMNS": "120"}).stdout
    assert "Usage: provenance scan [OPTIONS] DATASET" in scan_help
    for wrong in ("{dataset}", "<bool>", "<path>", "<int"):
        assert wrong not in scan_help, wrong
    for option in ("--db", "--verbose", "--limit", "--include", "--exclude", "--dry-run", "--jsonl"):
        assert option in scan_help, option


def test_one_clip_to_standard_output(sample_db: str, tmp_path: Path) -> None:
    result = run("scan", str(CLIP), "--out", "-", "--db", sample_db, "-j", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds the report and nothing else
    (clip,) = report["clips"]
    assert clip["path"] == CLIP.name and clip["exposure"] == "high" and clip["error"] is None
    assert report["scan"]["dataset"] == str(CLIP)
    assert not (tmp_path / "-").exists()
    lines = result.stderr.splitlines()
    assert (
        lines[-1] == "1 clips: 1 high, 0 medium, 0 low, 0 none, 0 unknown, 0 errors; report written to standard output"
    )
    assert all(line.strip() for line in lines), result.stderr  # no blank lines


def test_progress_lines_jsonl_and_long_messages_without_a_terminal(sample_db: str, tmp_path: Path) -> None:
    out = tmp_path / ("a-rather-long-folder-name-for-reports-" * 3) / "report.json"
    out.parent.mkdir()
    jsonl = tmp_path / "clips.jsonl"
    result = run(
        "scan",
        str(SAMPLE / "dataset"),
        "--include",
        "retro",
        "--include",
        "reupload/*",
        "--exclude",
        "*pip*",
        "--out",
        str(out),
        "--jsonl",
        str(jsonl),
        "--db",
        sample_db,
        cwd=tmp_path,
        env={"PROVENANCE_PROGRESS_SECONDS": "0"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    paths = [c["path"] for c in report["clips"]]
    assert paths == [
        "retro/pong_fast_gamma.mp4",
        "reupload/e1m1_crop_letterbox.mp4",
        "reupload/e1m1_mirrored_watermark.mp4",
        "reupload/e1m1_reencode.mp4",
    ]
    assert report["scan"]["selection"] == {"include": ["retro", "reupload/*"], "exclude": ["*pip*"]}
    streamed = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert sorted(streamed, key=lambda c: c["path"]) == report["clips"]  # the report's clip objects, as they finished
    lines = result.stderr.splitlines()
    progress = [line for line in lines if line.startswith("scan: ") and " clips (" in line]
    assert [line.split()[1] for line in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("1000" not in line for line in progress)
    assert progress[0].endswith("measuring rate")  # no rate from the first clip
    n = report["scan"]["summary"]
    summary = (
        f"4 clips: {n['high']} high, {n['medium']} medium, {n['low']} low, {n['none']} none, "
        f"{n['unknown']} unknown, {n['errors']} errors; "
        f"report written to {out}"
    )
    assert summary in lines  # one line, however long, outside a terminal
    assert all(line.strip() for line in lines), result.stderr


def test_limit_and_dry_run_match_and_write_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'untouched.db'}"
    dry = run(
        "scan", str(SAMPLE / "dataset"), "--dry-run", "--limit", "3", "--exclude", "clean", "--db", url, cwd=tmp_path
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "gameplay/freedoom_e1m2_new.mp4",
        "retro/breakout_pip.mp4",
        "retro/pong_fast_gamma.mp4",
    ]
    from provenance.cli.progress import clock

    seconds = sum(probe(SAMPLE / "dataset" / p).duration_s for p in dry.stdout.splitlines())
    assert f"dry run: 3 clips (0 unreadable), {clock(seconds)} of video" in dry.stderr, dry.stderr
    assert not (tmp_path / "untouched.db").exists() and not (tmp_path / "report.json").exists()


def test_bad_arguments_say_so(sample_db: str, tmp_path: Path) -> None:
    layer = run("registry", "list", "--layer", "bogus", "--db", sample_db, cwd=tmp_path)
    assert layer.returncode == 2 and "'bogus' is not one of" in layer.stderr
    holder = run("registry", "list", "--holder", "bogus", "--db", sample_db, cwd=tmp_path)
    assert holder.returncode == 2 and "no holder with id 'bogus'" in holder.stderr
    both = run("scan", str(CLIP), "--out", "-", "--jsonl", "-", "--db", sample_db, cwd=tmp_path)
    assert both.returncode == 2 and "standard output" in both.stderr


def test_report_without_outputs_prints_its_summary(tmp_path: Path, sample_report: dict[str, Any]) -> None:
    stored = tmp_path / "r.json"
    stored.write_text(json.dumps(sample_report))
    result = run("report", str(stored), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    s = sample_report["scan"]["summary"]
    assert result.stderr.splitlines() == [
        f"12 clips: {s['high']} high, {s['medium']} medium, {s['low']} low, {s['none']} none, "
        f"{s['unknown']} unknown, {s['errors']} errors "
        f"in {stored}",
        "nothing else to do: give --html, --csv, --emit-clean, --emit-flagged or --fail-on",
    ]


def test_missing_postgres_driver_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "psycopg.py").write_text("raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    path = os.pathsep.join([str(blocker), str(REPO), os.environ.get("PYTHONPATH", "")])
    result = run("--db", "postgresql://u@127.0.0.1/x", "registry", "list", cwd=tmp_path, env={"PYTHONPATH": path})
    assert result.returncode == 3
    assert "pip install 'provenance[postgres]'" in result.stderr and len(result.stderr.splitlines()) == 1


def _event(i: int, total: int, path: str) -> ClipDone:
    return ClipDone({"path": path, "duration_s": 60.0}, i, total, False, 1000, total * 1000)


def test_progress_bar_fits_80_columns_and_measures_before_it_shows_a_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.cli import progress as progress_module

    now = [1000.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    console = Console(file=io.StringIO(), force_terminal=True, width=80, record=True)
    shown = progress_module.ScanProgress(console)
    assert shown.bar is not None
    long_path = "crawl-07/" + "very-long-folder-name/" * 4 + "clip-000123.mp4"

    def screen() -> list[str]:
        console.print(shown.bar.get_renderable())  # type: ignore[union-attr]
        return [line for line in console.export_text().splitlines() if line.strip()]

    now[0] += 0.001
    shown.clip(_event(1, 1000, long_path))
    first = screen()
    assert "measuring rate" in first[-1] and "clips/s" not in first[-1]
    for i in range(2, 11):
        now[0] += 1.0
        shown.clip(_event(i, 1000, long_path))
    line = screen()[-1]  # 10 clips in 9.001 s, 1% of the bytes: 891 s left
    assert len(line) <= 80 and "1.11 clips/s" in line and "ETA 14:51" in line and "crawl-07" in line, line
    assert "10/1000" in line
