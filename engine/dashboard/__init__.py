"""The customer-success dashboard's numbers (``_numbers``) and their one layout (``_view``),
computed from plain inputs: no Temporal, no store, no I/O.

``workers.dashboard_sources`` gathers the inputs; ``playbook report`` and the HTTP API's page
render the layout. May import ``engine.journeys`` (the payload types) and
``engine.language``.
"""
