"""Talking to the journeys from outside: connect to Temporal, start and signal accounts,
publish a catalog, read status and decisions back.

``_connect`` (settings and the one ``connect``), ``_converter`` (the payload encoding every
client and worker shares), ``_start`` (deterministic ids, signal-with-start), ``_operate``
(what operators do: send events, read status, find accounts) and ``_attributes`` (registering
the search attributes on a namespace).

May import ``engine.journeys`` and ``engine.language``; workflow code never imports this.
"""
