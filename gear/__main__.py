"""``python -m gear`` runs the ``gear`` command."""

from gear.cli import main

main()
