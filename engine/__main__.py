"""``python -m engine`` runs the ``playbook`` command line."""

from engine.cli import main

main()
