"""The playbook language: YAML files to validated documents, diagnostics and plans.

Where a playbook set is read (``_yaml``, ``_loader``), modelled (``_documents``, ``_steps``,
``_conditions``), checked (``_checks``, ``_check_conditions``, ``_templates``, ``_cel``),
explained (``_errors``, ``_diagnose``) and compiled (``_compile``) into the plain, hashed
:class:`~engine.language._plan.Plan` a journey runs. ``_facts`` is what a condition reads at
run time: the values the language's fields stand for.

Imports nothing else of the project: it is the bottom layer, and everything above may use it.
The public names are re-exported by ``engine``.
"""
