"""The ``provenance`` command line (console script ``provenance = provenance.cli:main``).

:mod:`provenance.cli.app` holds the Typer app, the global options and the exit codes; importing this package
imports the command modules, which register their commands on it: :mod:`~provenance.cli.registry` (``db``,
``registry``), :mod:`~provenance.cli.scan` (``scan``, ``report``), :mod:`~provenance.cli.service` (``serve``,
``keys``), :mod:`~provenance.cli.summary` (``summary``).
"""

from provenance.cli import registry, review, scan, service, summary  # noqa: F401  (they register their commands)
from provenance.cli.app import (
    EXIT_FINDINGS,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_STORE,
    app,
    main,
)

__all__ = ["EXIT_FINDINGS", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "EXIT_STORE", "app", "main"]
