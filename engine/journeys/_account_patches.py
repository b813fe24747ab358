"""The account workflow's patch ids, and the list of them a starter vouches for.

Each id names a change of :class:`engine.journeys._account.AccountWorkflow` behind
``workflow.patched``: histories recorded before it replay the old way. Kept apart from the
workflow so what changed, and when it became safe to vouch for, reads in one place; the
client that starts accounts (engine.client._start) and the account continuing as new pass
:data:`ACCOUNT_PATCHES` in AccountState.patches.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.journeys._history import DECISIONS_PATCH, HISTORY_IN_TASK

# workflow.patched id: the account sleeps until a time-based rule can change (before: it woke
# every day) and tells its running journeys of a change at once (before: one after the
# other, a round trip each); runs started before replay the old way.
EXACT_WAKES = "exact-wakes"
FORWARD_READS = "forward-what-runs-read"
"""The account sends a journey new facts only when something it reads changed (health values
its plan reads, its history windows, any attribute); runs enrolled before get every change."""
SATISFACTION = "record-satisfaction"
"""Readings of an NPS or CSAT health component go to the store, for the dashboard's
satisfaction figures; accounts that ran before did not send them."""
NAME_VALUES = "name-attribute-values"
"""A segment or owner that is not text is left out (engine.journeys._values); accounts that
took a number as one before replay as they ran."""
RUN_START = "run-start-attributes-and-patches"
"""A run starts with its account, playbook and version as search attributes and with the
run's patches vouched for (RunInput.patches), so its first task records no patch markers
and upserts only its step; accounts that enrolled before started runs without either."""
QUIET_READINGS = "quiet-readings"
"""A reading that changes nothing costs no command: the account reads the catalog when a
publish is announced to it and when a run starts (accounts that ran before asked on their
events, at most every five minutes, and woke daily to look), and keeps its wake-up timer
while the moment it wakes for stays the same (engine.journeys._alarm; before, every event
restarted it)."""
COMBINED_EVENTS = "combined-events"
"""The ``event`` signal (a CombinedEvent: one event's attributes, reading and lifecycle event
in one signal) is taken; a worker from before it had no such signal."""
PLANS_BY_HASH = "plans-by-hash"
"""An account whose catalog index lists what each plan's runs read enrolls with the plan
taken by hash from the worker's memory (engine.journeys._plan_cache), with no local activity;
enrollments before it asked for the plan through ``resolve_plan``, and replay so. Asked once
as each run starts."""
ATTRIBUTES_WITH_ENROLLMENT = "attributes-with-enrollment"
"""In a task that upserts already (an account's first: its AccountId), the search attributes
that changed go with it, before a run it enrolls starts, where the task that saw the run
started upserted them, a visibility write of its own (the server writes visibility once per
task): a new account's first event costs one write fewer. A task that has not upserted keeps
its upsert for after the start: one there would put a visibility write before the start of
every later enrollment (a health drop's, on the reaction path). Asked once as each run
starts."""
DECISION_WAKES = "wake-on-decisions"
"""A journey enrolled by an index that lists what its decisions read (EntrySummary.wakes) is
woken only by changes of those (with attributes, windows and events, as before), no longer
by a score it only shows in a text; its actions render the account's current health
(RunInput.fetch_health). Journeys enrolled before are woken by all they read. Asked once as
each run starts."""
ACCOUNT_PATCHES = (
    EXACT_WAKES,
    DECISIONS_PATCH,
    FORWARD_READS,
    SATISFACTION,
    NAME_VALUES,
    QUIET_READINGS,
    RUN_START,
    HISTORY_IN_TASK,
    COMBINED_EVENTS,
    PLANS_BY_HASH,
    ATTRIBUTES_WITH_ENROLLMENT,
    DECISION_WAKES,
)
"""The account's workflow.patched ids a starter vouches for (AccountState.patches): the
client that creates an account and the account continuing as new. As with the runs'
RUN_PATCHES, a patch joins this list a release after it ships, asked through
:meth:`AccountWorkflow.patched` from the start, so that no worker of a rolling deploy meets a
vouched id its code does not honour (one that asked workflow.patched itself would record a
marker the next worker does not expect). QUIET_READINGS, RUN_START, HISTORY_IN_TASK and
COMBINED_EVENTS joined in 0.2.0 (README, "Releases and upgrades"), PLANS_BY_HASH in 0.3.0,
ATTRIBUTES_WITH_ENROLLMENT in 0.4.0, DECISION_WAKES in 0.5.0."""
