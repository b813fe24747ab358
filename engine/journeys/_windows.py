"""The account's calendar in a journey: its time zone, business days and send windows.

A plan carries the set's calendars (engine.language._calendar); an account lives on one, by
its ``calendar`` attribute, its segment or the set's default, and in one time zone, its
``timezone`` attribute or its calendar's. From those this module answers, deterministically
and with no clock of its own: which day it is for the account, when ``2bd`` from now ends,
and when the next send window opens. :func:`wait_for_window` holds a customer-facing action
until then, with a durable timer recorded in ``why``.

Pure functions but the last, like the evaluator; the sandbox runs them.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import engine.journeys._clock as _clock
    import engine.journeys._summaries as _summaries
    from engine.journeys._catch_up import reaches_customer
    from engine.journeys._journey import Journey
    from engine.language._calendar import DAYS, CalendarPlan, WindowPlan
    from engine.language._plan import Node, Plan, WaitNode
    from engine.language._zones import UTC_NAME, ZONES, zone

# workflow.patched ids. An account with a timezone attribute may run a plan from before
# zones: it replays in UTC. Windows come only with new plans; the patch marks their runs.
TIME_ZONES = "account-time-zones"
SEND_WINDOWS = "send-windows"
_WEEKDAYS = [0, 1, 2, 3, 4]
# A window with no open day this far ahead (a calendar of holidays only) never opens: the
# action goes at once rather than never.
_HORIZON_DAYS = 800


def calendar_for(
    calendars: dict[str, CalendarPlan], account: dict[str, Any]
) -> CalendarPlan | None:
    """The calendar an account lives on: its ``calendar`` attribute, else the one serving its
    segment, else the set's default; None when the set has none of these."""
    named = account.get("calendar")
    # `is not None` first: most accounts have neither attribute, and isinstance is costly in
    # the workflow sandbox (this runs several times in each of an account's tasks).
    if named is not None and isinstance(named, str) and named in calendars:
        return calendars[named]
    segment = account.get("segment")
    for calendar in calendars.values():
        if segment in calendar.segments:
            return calendar
    return next((c for c in calendars.values() if c.default), None)


def zone_name(calendars: dict[str, CalendarPlan], account: dict[str, Any]) -> str:
    """The account's time zone: its ``timezone`` attribute, else its calendar's, else UTC."""
    own = account.get("timezone")
    if own is not None and isinstance(own, str) and own in ZONES:
        return own
    calendar = calendar_for(calendars, account)
    return calendar.timezone if calendar is not None else UTC_NAME


def journey_zone(calendars: dict[str, CalendarPlan], account: dict[str, Any]) -> str | None:
    """The zone a workflow counts the account's days in, for Facts.zone: None for UTC, and in
    runs from before zones (workflow.patched, asked only for an account off UTC)."""
    name = zone_name(calendars, account)
    return name if name != UTC_NAME and workflow.patched(TIME_ZONES) else None


def is_working_day(day: date, calendar: CalendarPlan | None) -> bool:
    """A working day of the calendar (Monday to Friday without one), and no holiday."""
    if calendar is None:
        return day.weekday() in _WEEKDAYS
    return day.weekday() in calendar.working_days and not _holiday(day, calendar)


def _holiday(day: date, calendar: CalendarPlan) -> bool:
    text = day.isoformat()
    at = bisect_left(calendar.holidays, text)
    return at < len(calendar.holidays) and calendar.holidays[at] == text


def _local(day: date, minute: int, zone_key: str) -> datetime:
    """Minute ``minute`` of ``day`` on the wall clock of the zone, as a UTC moment; a wall
    time that the zone skips (a spring-forward gap) is read with the offset before it."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    return wall.replace(tzinfo=zone(zone_key)).astimezone(UTC)


def business_days_after(
    moment: datetime, count: int, calendar: CalendarPlan | None, zone_key: str
) -> datetime:
    """The same wall-clock time ``count`` working days after ``moment``'s day, in the zone:
    Friday 15:00 + 2bd is Tuesday 15:00 (Wednesday if Monday is a holiday)."""
    local = moment.astimezone(zone(zone_key))
    day = local.date()
    left = count
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day, calendar):
            left -= 1
    minute = local.hour * 60 + local.minute
    return _local(day, minute, zone_key) + timedelta(seconds=local.second)


def window_for(plan: Plan, node: Node, account: dict[str, Any]) -> WindowPlan | None:
    """The send window an action waits for, or None: emails that reach the customer wait
    unless their step says ``send_window: false``; others only with ``send_window: true``."""
    wanted = getattr(node, "send_window", None)
    if wanted is None:
        wanted = reaches_customer(node)
    if not wanted:
        return None
    window = plan.send_window
    if window is None:
        calendar = calendar_for(plan.calendars, account)
        window = calendar.send_window if calendar is not None else None
    return window if isinstance(window, WindowPlan) else None


def _open_on(day: date, window: WindowPlan, calendar: CalendarPlan | None) -> bool:
    if window.days == "all":
        return True
    if window.days == "working":
        return is_working_day(day, calendar)
    holiday = calendar is not None and _holiday(day, calendar)
    return day.weekday() in window.days and not holiday


def next_open(
    moment: datetime, window: WindowPlan, calendar: CalendarPlan | None, zone_key: str
) -> datetime:
    """``moment`` when the window is open then, else when it next opens (in UTC)."""
    today = moment.astimezone(zone(zone_key)).date()
    for ahead in range(_HORIZON_DAYS):
        day = today + timedelta(days=ahead)
        if not _open_on(day, window, calendar):
            continue
        opens = _local(day, window.start_minute, zone_key)
        closes = _local(day, window.end_minute, zone_key)
        if moment < closes:
            return max(moment, opens)
    return moment


def describe(window: WindowPlan) -> str:
    """The window as a playbook writes it: weekdays 09:00-17:00."""
    if window.days == "working":
        days = "weekdays"
    elif window.days == "all":
        days = "daily"
    else:
        days = ",".join(DAYS[d] for d in window.days)
    return f"{days} {_hhmm(window.start_minute)}-{_hhmm(window.end_minute)}"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


async def wait_for_window(run: Journey, node: Node) -> None:
    """Hold the action ``node`` until its send window opens in the account's zone: a durable
    timer, recorded in ``why`` as ``deferred`` with the window, the zone and the moment."""
    plan = run.input.plan
    facts = run.facts()
    window = window_for(plan, node, facts.account)
    if window is None or not workflow.patched(SEND_WINDOWS):
        return
    calendar = calendar_for(plan.calendars, facts.account)
    zone_key = zone_name(plan.calendars, facts.account)
    now = _clock.now()
    opens = next_open(now, window, calendar, zone_key)
    if opens <= now:
        return
    local = opens.astimezone(zone(zone_key))
    seen = {
        "window": describe(window),
        "zone": zone_key,
        "local time": now.astimezone(zone(zone_key)).strftime("%Y-%m-%d %H:%M %a"),
    }
    when = local.strftime("%Y-%m-%d %H:%M")
    run.record(
        "deferred",
        f"steps.{node.id}.send_window",
        seen,
        detail=f"outside the send window; goes at {when} {zone_key}",
    )
    run.wait_ends = opens
    run.waiting = f"waiting for the send window, until {_summaries.moment(opens)}"
    run.describe()
    await workflow.sleep(opens - now, summary=f"{node.id}: send window opens {when} {zone_key}")
    run.waiting = None


async def wait_business_days(run: Journey, node: WaitNode) -> None:
    """A ``wait`` of ``Nbd``: until the same time of day N working days on, in the account's
    zone, skipping its calendar's non-working days and holidays."""
    # No patch: only plans compiled with calendars hold such a wait, and no run started
    # before them has one.
    assert node.business_days is not None
    plan = run.input.plan
    account = run.facts().account
    now = _clock.now()
    until = run.wait_ends = business_days_after(
        now,
        node.business_days,
        calendar_for(plan.calendars, account),
        zone_name(plan.calendars, account),
    )
    run.waiting = f"waiting {node.business_days} business days, until {_summaries.moment(until)}"
    run.describe()
    if until > now:
        await workflow.sleep(until - now, summary=f"{node.id}: {node.business_days} business days")
