"""Hostile manifests and command lines: each is a one-line error naming the file, entry and field, with exit 2,
the same on SQLite and PostgreSQL, and the database exactly as it was (issue 17, items 9, 11 and 12).

NUL bytes and control characters in text fields, impossible unquoted dates, duplicate keys, alias bombs,
self-referring aliases, nesting too deep, manifests over the size limit, territories outside ISO 3166-1.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rightsdb import ManifestError, Registry, load_manifest
from rightsdb import import_manifest as import_loaded
from rightsdb.manifest import MAX_MANIFEST_BYTES
from rightsdb.validation import TERRITORIES, control_problem, shown, territory_problem

GOOD = """\
holders:
  - {id: acme, name: Acme Games, kind: publisher}
works:
  - id: acme-racer
    title: Acme Racer
    holder: acme
    layer: game
    policy: {ai_training: deny, license: All rights reserved, valid_from: 2024-01-01, territories: [US, NO]}
"""


def _no_probe(path: Path) -> Any:
    raise AssertionError("no references in these manifests")


def import_manifest(registry: Registry, path: Path, probe: Any) -> None:
    import_loaded(registry, load_manifest(path, probe))


def _write(tmp_path: Path, body: str | bytes, name: str = "manifest.yaml") -> Path:
    path = tmp_path / name
    if isinstance(body, str):
        path.write_text(body, encoding="utf-8")
    else:
        path.write_bytes(body)
    return path


def _bomb(levels: int = 9) -> str:
    """A "billion laughs" in a holder's ``kind`` (an enum field): 9 strings, 9 lists of them, ... 9 levels."""
    parts = ["&k0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    parts += [f"&k{i} [{', '.join([f'*k{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "holders:\n  - {id: acme, name: Acme, kind: [" + ", ".join(parts) + "]}\n"


#: (manifest text, what the one-line error must contain: entry, field, words)
BAD: dict[str, tuple[str, list[str]]] = {
    "nul-in-name": (GOOD.replace("Acme Games", '"Acme\\0Games"'), ["holders[0] (acme)", "name", "NUL"]),
    "nul-in-title": (GOOD.replace("Acme Racer", '"Acme\\0Racer"'), ["works[0] (acme-racer)", "title", "NUL"]),
    "nul-in-license": (
        GOOD.replace("All rights reserved", '"All\\0rights"'),
        ["works[0] (acme-racer)", "policy.license", "NUL"],
    ),
    "escape-in-title": (GOOD.replace("Acme Racer", '"Acme\\e[31mRacer"'), ["title", "control character"]),
    "nul-in-id": (GOOD.replace("id: acme,", 'id: "ac\\0me",'), ["holders[0]", "id"]),
    "nul-in-reference": (
        GOOD + '    references: [{path: "footage/a\\0.mp4", kind: footage}]\n',
        ["works[0] (acme-racer)", "references[0].path", "NUL"],
    ),
    "impossible-date": (GOOD.replace("2024-01-01", "2027-02-30"), ["policy.valid_from", "'2027-02-30' is not a date"]),
    "month-13": (GOOD.replace("2024-01-01", "2027-13-01"), ["policy.valid_from", "'2027-13-01' is not a date"]),
    "duplicate-key": (
        GOOD.replace("    layer: game\n", "    layer: game\n    layer: stream\n"),
        ["duplicate key 'layer' (first at line 7)", "line 8"],
    ),
    "duplicate-top-key": (GOOD + "holders: []\n", ["duplicate key 'holders'"]),
    "alias-bomb": (_bomb(), ["alias"]),
    "self-alias": ("holders: &h [*h]\n", ["alias"]),
    "too-deep": ("holders: " + "[" * 20000 + "]" * 20000 + "\n", ["YAML"]),
    "territory-uk": (GOOD.replace("[US, NO]", "[US, UK]"), ["policy.territories", "'UK'", "GB"]),
    "territory-eu": (GOOD.replace("[US, NO]", "[EU]"), ["policy.territories", "'EU'", "member countries"]),
    "territory-qq": (GOOD.replace("[US, NO]", "[QQ]"), ["policy.territories", "'QQ' is not an ISO 3166-1"]),
    "huge-enum": (GOOD.replace("kind: publisher", "kind: '" + "x" * 200_000 + "'"), ["holders[0] (acme)", "kind"]),
}


def _tables(registry: Registry) -> dict[str, int]:
    with registry.engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ("holders", "works")}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_manifest_is_one_line_and_changes_nothing(registry: Registry, tmp_path: Path, case: str) -> None:
    import_manifest(registry, _write(tmp_path, GOOD, "good.yaml"), _no_probe)
    before = _tables(registry)
    body, expected = BAD[case]
    path = _write(tmp_path, body)
    with pytest.raises(ManifestError) as info:
        import_manifest(registry, path, _no_probe)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(str(path)), message
    for words in expected:
        assert words in message, message
    assert _tables(registry) == before


def test_good_manifest_reads_dates_and_norway(registry: Registry, tmp_path: Path) -> None:
    """YAML 1.2 scalars: an unquoted date still imports as a date, and NO is Norway (YAML 1.1 read it false)."""
    import_manifest(registry, _write(tmp_path, GOOD), _no_probe)
    with registry.engine.connect() as conn:
        row = conn.execute(text("SELECT territories, valid_from FROM works")).one()
    territories = row[0] if isinstance(row[0], list) else json.loads(row[0])
    assert territories == ["NO", "US"]
    assert str(row[1]).startswith("2024-01-01")


def test_json_manifest_refuses_nul_and_duplicates(registry: Registry, tmp_path: Path) -> None:
    doc = {"holders": [{"id": "acme", "name": "Acme\x00Games", "kind": "publisher"}]}
    with pytest.raises(ManifestError, match=r"holders\[0\] \(acme\): name: contains a NUL byte"):
        import_manifest(registry, _write(tmp_path, json.dumps(doc), "m.json"), _no_probe)
    dup = '{"holders": [], "works": [], "holders": [{"id": "x", "name": "X", "kind": "other"}]}'
    with pytest.raises(ManifestError, match="duplicate key 'holders'"):
        import_manifest(registry, _write(tmp_path, dup, "d.json"), _no_probe)
    assert _tables(registry) == {"holders": 0, "works": 0}


def test_shared_aliases_still_import(registry: Registry, tmp_path: Path) -> None:
    """Aliases within the bound (a policy shared by works) are fine."""
    body = (
        "holders: [{id: acme, name: Acme, kind: publisher}]\nworks:\n"
        "  - {id: a, title: A, holder: acme, layer: game, policy: &deny {ai_training: deny}}\n"
        "  - {id: b, title: B, holder: acme, layer: game, policy: *deny}\n"
    )
    import_manifest(registry, _write(tmp_path, body), _no_probe)
    assert _tables(registry) == {"holders": 1, "works": 2}


def _child_limits() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (3 * 1024**3, 3 * 1024**3))


def _load_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """Load ``path`` in a child process whose memory is capped (3 GiB of address space): the error it prints and
    its peak resident memory in MiB, last line (``VmHWM``: the process's own since ``exec``; ``ru_maxrss`` keeps
    the forking parent's peak across ``exec``, the test runner's)."""
    code = (
        "import sys\n"
        "from rightsdb import ManifestError\n"
        "from rightsdb.manifest import load_manifest\n"
        "try:\n"
        "    load_manifest(sys.argv[1], None)\n"
        "except ManifestError as exc:\n"
        "    print(exc)\n"
        "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM:')][0].split()[1]\n"
        "print(int(hwm) // 1024)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_child_limits,
    )


def test_alias_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    done = _load_in_child(_write(tmp_path, _bomb()))
    assert done.returncode == 0, done.stderr[-500:]
    message, peak = done.stdout.strip().splitlines()
    assert "alias" in message and len(message) < 300, message
    assert int(peak) < 400, f"{peak} MiB to refuse an alias bomb"


def test_oversized_manifest_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    line = b"  - {id: h%07d, name: Holder, kind: publisher}\n"
    with path.open("wb") as fh:
        fh.write(b"holders:\n")
        i = 0
        while fh.tell() <= MAX_MANIFEST_BYTES + 1024:
            fh.write(line % i)
            i += 1
    started = time.monotonic()
    done = _load_in_child(path)
    assert done.returncode == 0, done.stderr[-500:]
    message, peak = done.stdout.strip().splitlines()
    assert message == f"{path}: larger than 16 MiB: split it into several manifests"
    assert int(peak) < 400, f"{peak} MiB to refuse a {path.stat().st_size} byte manifest"
    assert time.monotonic() - started < 60


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}
    return subprocess.run(
        [sys.executable, "-m", "provenance", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("case", ["nul-in-name", "impossible-date", "duplicate-key", "territory-uk"])
def test_cli_bad_manifest_exit_2_one_line(db_url: str, tmp_path: Path, case: str) -> None:
    body, expected = BAD[case]
    done = _cli("--db", db_url, "registry", "import", str(_write(tmp_path, body)), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for words in expected:
        assert words in lines[0]
    registry = Registry(db_url)
    try:
        assert _tables(registry) == {"holders": 0, "works": 0}
    finally:
        registry.dispose()


def test_cli_territory_is_checked(tmp_path: Path) -> None:
    (tmp_path / "clip.txt").write_text("x")
    done = _cli("--db", f"sqlite:///{tmp_path / 'r.db'}", "scan", str(tmp_path), "--territory", "UK", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "'UK' is not an ISO 3166-1 alpha-2 code (use GB for the United Kingdom)" in done.stderr


def test_validation_helpers() -> None:
    assert len(TERRITORIES) == 249 and {"GB", "DE", "US", "NO", "AX", "SS", "XK"} - TERRITORIES == {"XK"}
    assert territory_problem("de") is None and territory_problem(" gb ") is None
    assert territory_problem("UK") and territory_problem("WW") and territory_problem("QQ")
    assert control_problem("plain text ✓") is None
    assert control_problem("two\nlines", free_text=True) is None
    assert control_problem("two\nlines") and control_problem("nul\x00", free_text=True)
    assert control_problem("c1\x85") and control_problem("del\x7f")
    assert shown("x" * 10_000).endswith("...") and len(shown("x" * 10_000)) < 70
    nested: list[Any] = ["lol"] * 9
    for _ in range(8):
        nested = [nested] * 9
    assert shown(nested) == "a list of 9 items"
    assert shown(10**5000).startswith("an integer of")
