"""The ``provenance`` command line."""

from provenance.cli.app import main

__all__ = ["main"]
