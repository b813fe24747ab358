"""The ``playbook`` command line: the one package that may import both ``engine`` and
``workers``.

``_main`` holds the entry point and loads every command group, each of which registers its
commands on the Typer app of ``_base``: ``_playbooks`` (validate, compile, schema, publish),
``_worker``, ``_accounts``, ``_tasks``, ``_report``, ``_simulate`` and ``_serve``.
"""

from playbook_cli._main import main

__all__ = ["main"]
