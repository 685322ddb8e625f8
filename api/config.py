"""The service's settings, from the environment (``PROVENANCE_*``), built once on demand."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field

from provenance.audit.executors import DEFAULT_CLIP_TIMEOUT
from provenance.settings import Settings

__all__ = ["ApiSettings", "get_api_settings"]


class ApiSettings(Settings):
    """Settings of ``provenance serve`` (each also an environment variable, ``PROVENANCE_`` + the name): the
    process-wide :class:`~provenance.settings.Settings` (``db``, ``data_roots``) and the service's own.

    - ``db``: database URL (as the CLI's ``--db``).
    - ``data_roots``: folders that server-side scans and path checks may read, separated like ``PATH``.
      Empty: no server-side reads at all (uploads still work).
    - ``max_upload_bytes``: largest upload (clip or reference) accepted; larger ones get 413.
    - ``upload_dir``: where uploads are streamed while they are checked (default: the system's temp folder).
    - ``media_dir``: where uploaded reference files are kept (they are the registry's references).
    - ``max_scans``: scan jobs running at once over all the service's processes sharing the database (others
      wait, queued).
    - ``scan_workers``: processes one scan job matches clips in (with ``ray`` and no address: the local
      cluster's CPUs).
    - ``scan_executor``: ``local`` (processes of this machine) or ``ray`` (a Ray cluster), as the CLI's
      ``--executor``; ``ray_address``: the cluster to join (none: a local cluster started per job).
    - ``check_threads``: clip checks matched at once (each thread keeps its own copy of the index); per
      server process.
    - ``job_lease_seconds``: how long a scan job stays claimed by a service process that stopped renewing it
      (renewed three times a lease while it runs): a job whose process died is taken over by another process,
      or by the next start, this long after its last renewal.
    - ``clip_timeout_seconds``: longest a scan job's clip may take (hashing, decoding, matching); a clip still
      running then is stopped and reported as an error (never cleared).
    - ``body_timeout_seconds``: longest wait for the next piece of a request body; a client that stops sending
      gets 408 and its connection closed.
    """

    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    upload_dir: str | None = None
    media_dir: str = "provenance-media"
    max_scans: int = Field(default=1, ge=1, le=64)
    scan_workers: int = Field(default=1, ge=1, le=256)
    scan_executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    check_threads: int = Field(default=2, ge=1, le=64)
    job_lease_seconds: float = Field(default=30.0, ge=2.0, le=3600.0)
    clip_timeout_seconds: float = Field(default=DEFAULT_CLIP_TIMEOUT, gt=0, le=86400.0)
    body_timeout_seconds: float = Field(default=60.0, gt=0, le=3600.0)


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    return ApiSettings()
