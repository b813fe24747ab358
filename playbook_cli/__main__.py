"""``python -m playbook_cli`` runs the ``playbook`` command line."""

from playbook_cli._main import main

main()
