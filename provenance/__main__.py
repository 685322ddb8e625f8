"""``python -m provenance`` runs the CLI."""

from provenance.cli.app import main

main()
