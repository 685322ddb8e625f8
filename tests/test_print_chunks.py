"""Fingerprint payloads larger than one database value are stored in chunks (migration 0007), on SQLite and on the
real PostgreSQL server: read back whole, never cut short, and the registry's counts include every chunk."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, func, text
from sqlmodel import select

import rightsdb.references as refs
from rightsdb import Fingerprint, Registry, StoreError
from rightsdb.models import FingerprintChunk
from rightsdb.references import registry_stats, save_fingerprint, stored_fingerprints

SHA = "ab" * 32


def _save(registry: Registry, data: bytes, sha: str = SHA) -> None:
    save_fingerprint(registry, sha, "algo", "1", {"p": 1}, 3, (b"t" * 12, data, b"q" * 3))


def _values(registry: Registry) -> tuple[int, list[int]]:
    """The fingerprint row's ``data`` length and its chunks' lengths, as stored."""
    with registry.session() as session:
        row = session.exec(select(Fingerprint)).one()
        chunks = session.exec(
            select(func.length(FingerprintChunk.data))
            .where(FingerprintChunk.fingerprint_id == row.id)
            .order_by(FingerprintChunk.seq)  # type: ignore[arg-type]
        ).all()
        return len(row.data), [int(n) for n in chunks]


@pytest.mark.parametrize("size", [0, 999, 1000, 1001, 4500])
def test_payload_round_trips_in_chunks(registry: Registry, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(refs, "PRINT_CHUNK_BYTES", 1000)
    data = os.urandom(size)
    _save(registry, data)
    first, chunks = _values(registry)
    assert first == min(size, 1000)
    assert chunks == [min(1000, size - k) for k in range(1000, size, 1000)]  # no value over a chunk
    assert stored_fingerprints(registry, "algo", "1") == {SHA: (b"t" * 12, data, b"q" * 3)}
    stats = registry_stats(registry, {"algo": "1"})
    assert stats["fingerprints"]["algo"] == {"count": 1, "bytes": 12 + size}


def test_missing_chunk_is_an_error_not_a_shorter_print(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refs, "PRINT_CHUNK_BYTES", 1000)
    _save(registry, os.urandom(3500))
    with registry.write() as session:
        session.exec(delete(FingerprintChunk).where(FingerprintChunk.seq == 2))  # type: ignore[call-overload]
    with pytest.raises(StoreError, match=r"fingerprint abababababab \(algo 1\): 2 of its 3 chunks"):
        stored_fingerprints(registry, "algo", "1")


def test_chunks_go_with_their_fingerprint(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refs, "PRINT_CHUNK_BYTES", 1000)
    _save(registry, os.urandom(2500))
    _save(registry, os.urandom(2500), sha="cd" * 32)
    with registry.write() as session:
        session.exec(delete(Fingerprint).where(Fingerprint.sha256 == SHA))  # type: ignore[call-overload]
    with registry.session() as session:
        left = session.exec(select(FingerprintChunk.fingerprint_id)).all()
        ids = session.exec(select(Fingerprint.id)).all()
    assert len(left) == 2 and set(left) == set(ids)  # the deleted print's chunks deleted with it


def test_rows_from_before_chunks_read_as_they_were(tmp_path: os.PathLike[str]) -> None:
    """A registry at 0006 with a stored print, upgraded: the print reads back unchanged (``chunks`` 0)."""
    url = f"sqlite:///{tmp_path}/old.db"
    old = Registry(url, auto_migrate=False)
    old.upgrade("0006")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fingerprints (sha256, algorithm, version, params, count, timestamps, data, quality, "
                "created_at) VALUES (:s, 'algo', '1', '{}', 1, :t, :d, NULL, '2026-12-01 00:00:00')"
            ),
            {"s": SHA, "t": b"tttt", "d": b"payload"},
        )
    old.dispose()
    new = Registry(url)
    try:
        assert new.current_revision() == "0007"
        assert stored_fingerprints(new, "algo", "1") == {SHA: (b"tttt", b"payload", b"")}
    finally:
        new.dispose()


@pytest.fixture
def pg_registry(pg_url: str) -> Iterator[Registry]:
    reg = Registry(pg_url)
    yield reg
    reg.dispose()


@pytest.mark.postgres
def test_postgres_stores_a_print_larger_than_a_bytea_value_takes(pg_registry: Registry) -> None:
    """600 MB, about 1.4 hours of reference prints: one bytea value of this size failed here ("invalid memory alloc
    request size 1258291203": sent as text, twice its size). With the default chunk size it is stored and read."""
    data = os.urandom(600 << 20)
    _save(pg_registry, data)
    first, chunks = _values(pg_registry)
    assert first == refs.PRINT_CHUNK_BYTES and max(chunks) <= refs.PRINT_CHUNK_BYTES
    assert first + sum(chunks) == len(data)
    got = stored_fingerprints(pg_registry, "algo", "1")[SHA][1]
    assert got == data
