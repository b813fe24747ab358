"""The journeys: the deterministic workflow code that runs plans for accounts.

``AccountWorkflow`` (``_account``: health, entries, enrollments; helped by ``_entries`` and
``_history``), ``PlaybookRun`` (``_run``: one plan for one account; helped by ``_ladder``
and ``_waits``, which see the run through ``_journey``), the ``CatalogWorkflow``
(``_catalog``), and what they share: the payloads that cross the Temporal boundary
(``_messages``), condition evaluation (``_evaluate``), calendar wake-ups (``_timing``),
health scoring (``_scoring``) and the search attributes operators filter by (``_search``).

May import ``engine.language`` and nothing above it; nothing here does I/O, reads a clock or
draws a random number (import-linter checks the imports, the workflow sandbox the rest).
Kept free of imports: the sandbox imports this package afresh for every workflow it runs.
The workflow modules import their helpers as ``import engine.journeys._clock as _clock``,
never ``from engine.journeys import _clock``: the second form reads the helper off this
fresh package, and the sandbox then executes the helper again for every new workflow
instance instead of passing it through (tests/workers/test_sandbox.py checks).
"""
