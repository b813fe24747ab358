"""The PlaybookRun workflow's patch ids, and the list of them an account vouches for.

Each id names a change of :class:`engine.journeys._run.PlaybookRunWorkflow` behind
``workflow.patched`` (through ``engine.journeys._journey.patched``, which honours a vouch):
histories recorded before it replay the old way. The account that enrolls a run sends
:data:`RUN_PATCHES` in its input (engine.journeys._enrolling).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.journeys._history import DECISIONS_PATCH, HISTORY_IN_TASK
    from engine.journeys._ladder import CHANNELS_AT_ONCE

# How the run ended goes to the store for the dashboard; runs started before this replay
# without it.
HISTORY_PATCH = "record-journey-outcome"
# Conditions that read the calendar (days_to_renewal...) change without a signal. A run
# sleeps until the moment one can change (engine.journeys._timing); runs started before that
# (workflow.patched id below) replay with a daily wake-up instead.
TICK = timedelta(days=1)
EXACT_WAKES = "exact-wakes"
# workflow.patched ids; runs started before each replay the old way. exact-journeys: endings
# as docs/language.md "How a journey ends" says, no action after a goal or exit, waits and
# the ladder moved by new facts. catch-up: passed actions skipped as the plan says.
EXACT_JOURNEYS = "exact-journeys"
CATCH_UP = "catch-up"
ANY_ANCHORS = "any-date-anchors"
"""workflow.patched id: a date-anchored wait re-reads its date when any of its anchors moves
(start_date, go_live_date...); runs from before re-read it on renewal_date moves only."""
LADDER_STOPS = "ladder-stops-with-the-steps"
"""workflow.patched id, asked when the steps end with a ladder: the run waits for the ladder to
engage what the steps asked of it last (an escalate step just before the end), then stands
it down. Before, the run's cancel could land as the ladder's wait came true and be swallowed
(Python 3.11's wait_for), and the ladder climbed on, keeping the run open. Runs that ended
before replay as they ran."""
RUN_PATCHES = (
    EXACT_WAKES,
    EXACT_JOURNEYS,
    DECISIONS_PATCH,
    HISTORY_PATCH,
    CATCH_UP,
    CHANNELS_AT_ONCE,
    HISTORY_IN_TASK,
    LADDER_STOPS,
)
"""Every workflow.patched id a run asks about: an account enrolling a run with this engine
vouches for them all (RunInput.patches), so the run need not record a marker for each.

A new patch of the run joins this list one release after it ships, never with it: during a
rolling deploy an account on a new worker may start a run whose first task an old worker
runs, and an id vouched for that the old code does not know would be taken as applied on the
next replay although the old code took the old path. Asked with a marker meanwhile (through
``patched``, which honours a vouch), it is recorded as what it was. HISTORY_IN_TASK joined
in 0.2.0 (README, "Releases and upgrades"), LADDER_STOPS in 0.5.0. ANY_ANCHORS is asked with
``workflow.patched`` itself (it predates vouching), so a vouch would not spare its marker."""
