"""Manifest imports in a work's policy history (``GET /v1/works/{id}/policy/history``), through the real
command line and the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import rightsdb.imports
from provenance.audit.manifests import import_manifest_file
from rightsdb import Registry

from .apihelp import SAMPLE, Service, start_service

FREEDOOM_TERMS = {"ai_training": "deny", "license": "All rights reserved"}
NIGHTOWL_TERMS = {
    "ai_training": "conditional",
    "license": "Attribution and revenue share",
    "territories": ["DE", "US"],
    "valid_from": "2024-01-01",
}


def _manifest(folder: Path, freedoom: dict[str, Any] = FREEDOOM_TERMS, nightowl_title: str = "NightOwl Plays") -> Path:
    """Two works of two holders over the sample's (small) assets, in ``folder``."""
    for name in ("freedoom-hud.png", "nightowl-overlay.png"):
        if not (folder / "assets" / name).exists():
            (folder / "assets").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SAMPLE / "registry" / "assets" / name, folder / "assets" / name)
    doc = {
        "holders": [
            {"id": "hellgate", "name": "Hellgate Interactive", "kind": "publisher"},
            {"id": "nightowl", "name": "NightOwl Plays", "kind": "streamer"},
        ],
        "works": [
            {
                "id": "freedoom",
                "title": "Freedoom",
                "holder": "hellgate",
                "layer": "game",
                "policy": freedoom,
                "references": [{"path": "assets/freedoom-hud.png", "kind": "asset"}],
            },
            {
                "id": "nightowl-channel",
                "title": nightowl_title,
                "holder": "nightowl",
                "layer": "stream",
                "policy": NIGHTOWL_TERMS,
                "references": [{"path": "assets/nightowl-overlay.png", "kind": "asset"}],
            },
        ],
    }
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _cli_import(db_url: str, manifest: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROVENANCE_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "provenance", "--db", db_url, "registry", "import", manifest],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _history(service: Service, work: str, role: str = "admin") -> list[dict[str, Any]]:
    r = service.client.get(f"/v1/works/{work}/policy/history", headers=service.auth(role))
    assert r.status_code == 200, r.text
    history: list[dict[str, Any]] = r.json()
    return history


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[Service]:
    """The app on a database the command line imported ``reg/manifest.yaml`` into (run in ``tmp_path``)."""
    _manifest(tmp_path / "reg")
    _cli_import(db_url, "reg/manifest.yaml", tmp_path)
    yield from start_service(db_url, tmp_path)


@pytest.mark.slow
def test_import_records_new_works_and_changed_terms(service: Service, db_url: str, tmp_path: Path) -> None:
    actor = "manifest import: reg/manifest.yaml"  # the file as the command line was given it
    first = _history(service, "freedoom")
    assert [(h["work"], h["actor"], h["before"], h["after"]) for h in first] == [
        ("freedoom", actor, None, FREEDOOM_TERMS)
    ]
    assert [(h["actor"], h["before"], h["after"]) for h in _history(service, "nightowl-channel")] == [
        (actor, None, NIGHTOWL_TERMS)
    ]
    assert _history(service, "freedoom", role="holder") == first  # hellgate's own work

    # the same manifest again: nothing recorded
    _cli_import(db_url, "reg/manifest.yaml", tmp_path)
    assert _history(service, "freedoom") == first
    assert len(_history(service, "nightowl-channel")) == 1

    # new terms for one work, a new title (not terms) for the other: one new entry, on the first
    new_terms = {
        "ai_training": "allow",
        "license": "BSD-3-Clause",
        "territories": ["DE"],
        "valid_until": "2030-12-31",
        "url": "https://hellgate.example/ai",
    }
    _manifest(tmp_path / "reg", freedoom=new_terms, nightowl_title="NightOwl Plays (VODs)")
    _cli_import(db_url, "reg/manifest.yaml", tmp_path)
    history = _history(service, "freedoom")
    assert len(history) == 2 and history[0] == first[0]
    assert (history[1]["actor"], history[1]["before"], history[1]["after"]) == (actor, FREEDOOM_TERMS, new_terms)
    assert history[1]["changed_at"] >= history[0]["changed_at"]
    assert len(_history(service, "nightowl-channel")) == 1
    work = service.client.get("/v1/works/freedoom", headers=service.auth("admin")).json()
    assert work["policy"] == new_terms

    # an edit through the service follows the imports in the same history
    r = service.client.put("/v1/works/freedoom/policy", headers=service.auth("admin"), json=FREEDOOM_TERMS)
    assert r.status_code == 200, r.text
    history = _history(service, "freedoom")
    assert [h["actor"] for h in history] == [actor, actor, f"key:{service.keys['admin'].split('_')[1]}"]
    assert (history[2]["before"], history[2]["after"]) == (new_terms, FREEDOOM_TERMS)
    # and importing the manifest's terms back is a change again, recorded as the import's
    _cli_import(db_url, "reg/manifest.yaml", tmp_path)
    history = _history(service, "freedoom")
    assert len(history) == 4 and (history[3]["actor"], history[3]["before"], history[3]["after"]) == (
        actor,
        FREEDOOM_TERMS,
        new_terms,
    )


@pytest.mark.slow
def test_a_failed_import_records_no_history(service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The history is written in the import's one transaction: an import failing after it recorded a change of
    terms (here: on the next work, a fault injected while its references are written) leaves none behind."""
    before = _history(service, "freedoom")
    manifest = _manifest(tmp_path / "reg", freedoom={"ai_training": "allow"})
    real = rightsdb.imports._reference_values

    def failing(spec: Any) -> dict[str, Any]:
        if spec.path == "assets/nightowl-overlay.png":  # the second work, after freedoom's change was added
            raise RuntimeError("disk on fire")
        return real(spec)

    monkeypatch.setattr(rightsdb.imports, "_reference_values", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_manifest_file(service.registry, manifest)
    assert _history(service, "freedoom") == before
    assert service.client.get("/v1/works/freedoom", headers=service.auth("admin")).json()["policy"] == FREEDOOM_TERMS
    monkeypatch.undo()
    import_manifest_file(service.registry, manifest)  # the same import, without the fault: recorded
    history = _history(service, "freedoom")
    assert len(history) == 2 and history[1]["after"] == {"ai_training": "allow"}


@pytest.mark.slow
def test_a_long_manifest_path_fits_the_actor_column(db_url: str, tmp_path: Path) -> None:
    """``policy_changes.actor`` holds 256 characters (PostgreSQL refuses more): a longer file name is cut at the
    front, keeping its end."""
    folder = tmp_path / ("d" * 150) / ("e" * 150)
    manifest = _manifest(folder)
    assert len(str(manifest)) > 300
    registry = Registry(db_url)
    try:
        import_manifest_file(registry, manifest)
    finally:
        registry.dispose()
    for service in start_service(db_url, tmp_path):
        (entry,) = _history(service, "freedoom")
        actor = entry["actor"]
        assert len(actor) == 256 and actor.startswith("manifest import: ...")
        assert str(manifest).endswith(actor.removeprefix("manifest import: ...")) and actor.endswith(
            "e" * 150 + "/manifest.yaml"
        )
        assert entry["before"] is None and entry["after"] == FREEDOOM_TERMS
