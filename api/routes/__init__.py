"""The service's routes, one module per resource; :mod:`api.app` mounts their routers under ``/v1``."""

from api.routes import clips, findings, health, packs, registry, reviews, scans

__all__ = ["clips", "findings", "health", "packs", "registry", "reviews", "scans"]
