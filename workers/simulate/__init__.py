"""Simulation with time travel: the real workflows on the time-skipping test server.

``playbook simulate`` and ``playbook backtest`` run the production ``AccountWorkflow`` and
``PlaybookRunWorkflow`` with the same compiled plans, on Temporal's time-skipping test server,
with the action activities replaced by recorders that render and resolve exactly as the real
ones do and send nothing. Modules:

- ``recorder``: the recording ``perform_action``/``close_items`` and an in-memory catalog.
- ``inputs``: account, timeline, book and outcome files, every bad row named by file and line.
- ``runner``: drives events at their day offsets and collects what happened.
- ``report``: the timeline, the diff between two versions, the backtest report.
- ``book``: a seeded synthetic book of accounts for anyone to backtest.
- ``timers``: workflow instances that cancel no timer on the server that could come due while
  their task is out (the test server's bug).
"""
