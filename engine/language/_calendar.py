"""The calendar people live in: time zones, working days, holidays and send windows.

A ``kind: Calendar`` document says which days a team and its customers work (weekdays, public
holidays of a country from the ``holidays`` package, a company's own days off), the time zone
of the accounts it serves when they carry none of their own, and the hours customer-facing
messages may go out (a send window). Accounts choose one by their ``calendar`` attribute, by
segment, or get the set's default.

Workflow code must stay deterministic, and ``holidays`` computes dates from rules (and could
change its answers between releases), so it runs here, at compile time only: a calendar
becomes plain data in the plan, its holidays expanded into dates for the years
:data:`FIRST_YEAR` to :data:`LAST_YEAR`. A running journey keeps the dates it started with.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from engine.language._base import Model, Slug
from engine.language._durations import DURATION_PATTERN, check_duration
from engine.language._errors import Code
from engine.language._zones import zone_problem

FIRST_YEAR = 2020
LAST_YEAR = 2045
"""Public holidays are expanded for these years (inclusive); a company's own dates may be any
day from 1900 to 2199. Past the span, business days skip weekends only."""
MAX_BUSINESS_DAYS = 1_000
"""The most business days one wait may count (about four years)."""
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKING_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")

# Send windows: DAYS HH:MM-HH:MM, where DAYS is weekdays, daily, a day, a range or a list.
_DAY = "(?:mon|tue|wed|thu|fri|sat|sun)"
_DAYSPEC = rf"(?:weekdays|daily|{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*)"
_TIME = r"(?:[01][0-9]|2[0-4]):[0-5][0-9]"
SEND_WINDOW_PATTERN = rf"^(?:always|{_DAYSPEC} {_TIME}-{_TIME})$"
_WINDOW = re.compile(rf"({_DAYSPEC}) ({_TIME})-({_TIME})")
BUSINESS_DAYS_PATTERN = r"^[0-9]+bd$"
_BUSINESS_DAYS = re.compile(r"([0-9]{1,6})bd")


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowPlan(_Plan):
    """A send window: the days it is open and its hours, in the recipient's time zone."""

    days: Literal["working", "all"] | list[int]
    """working: the calendar's working days, holidays closed; all: every day, holidays too;
    or weekday numbers (0 Monday ... 6 Sunday), holidays closed."""
    start_minute: int
    """Opens at this minute of the local day (540 is 09:00)."""
    end_minute: int
    """Closes at this minute (exclusive; 1440 is midnight at the day's end)."""


class CalendarPlan(_Plan):
    """A compiled calendar: plain data a journey reads, with its holidays as dates."""

    name: str
    timezone: str
    working_days: list[int]
    """Weekday numbers, 0 Monday ... 6 Sunday."""
    holidays: list[str]
    """ISO dates that are not working days, sorted."""
    send_window: WindowPlan | None = None
    segments: list[str] = Field(default_factory=list)
    default: bool = False


# The language ---------------------------------------------------------------------------------


def parse_window(text: str) -> WindowPlan | Literal["always"]:
    """The plan form of a send window already checked by :data:`SendWindowText`."""
    if text == "always":
        return "always"
    match = _WINDOW.fullmatch(text)
    assert match, text
    spec, start, end = match.groups()
    days: Literal["working", "all"] | list[int]
    if spec == "weekdays":
        days = "working"
    elif spec == "daily":
        days = "all"
    else:
        chosen: set[int] = set()
        for part in spec.split(","):
            first, _, last = part.partition("-")
            a, b = DAYS.index(first), DAYS.index(last or first)
            # mon-fri, and also fri-mon across the weekend.
            chosen |= {(a + i) % 7 for i in range(((b - a) % 7) + 1)}
        days = sorted(chosen)
    return WindowPlan(days=days, start_minute=_minutes(start), end_minute=_minutes(end))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _check_window(text: str) -> str:
    match = _WINDOW.fullmatch(text)
    if text == "always":
        return text
    if not match:
        raise PydanticCustomError(
            Code.SEND_WINDOW_INVALID,
            "'{text}' is not a send window: write DAYS HH:MM-HH:MM, where DAYS is weekdays,"
            " daily, a day (mon), a range (mon-fri) or a list (mon,wed,fri), as in"
            " 'weekdays 09:00-17:00'; or always",
            {"text": text[:40]},
        )
    _, start, end = match.groups()
    if _minutes(start) > 24 * 60 or _minutes(end) > 24 * 60:
        raise PydanticCustomError(
            Code.SEND_WINDOW_INVALID, "'{text}': a time is past 24:00", {"text": text[:40]}
        )
    if _minutes(start) >= _minutes(end):
        raise PydanticCustomError(
            Code.SEND_WINDOW_INVALID,
            "'{text}': the window must open before it closes, on the same day (a window"
            " may not pass midnight; 24:00 is the end of the day)",
            {"text": text[:40]},
        )
    return text


SendWindowText = Annotated[
    str,
    AfterValidator(_check_window),
    Field(
        json_schema_extra={"pattern": SEND_WINDOW_PATTERN},
        examples=["weekdays 09:00-17:00", "mon-fri 08:30-18:00", "daily 10:00-20:00", "always"],
    ),
]
"""When customer-facing messages may go out, in the recipient's zone: ``weekdays 09:00-17:00``."""


def business_days(text: str) -> int | None:
    """The number of business days in ``2bd``, or None when ``text`` is another duration."""
    match = _BUSINESS_DAYS.fullmatch(text)
    return int(match.group(1)) if match else None


def check_business_days(text: str) -> str | None:
    """Why ``text``, written as business days, is refused, or None (also when it is not
    business days at all: the caller checks it as a duration)."""
    if not re.fullmatch(BUSINESS_DAYS_PATTERN, text):
        return None
    count = business_days(text)
    if count is None or count > MAX_BUSINESS_DAYS:
        return f"'{text[:40]}' is more than {MAX_BUSINESS_DAYS} business days"
    return None


def _check_wait_for(text: str) -> str:
    if "bd" in text and not re.fullmatch(BUSINESS_DAYS_PATTERN, text):
        raise PydanticCustomError(
            Code.DURATION_INVALID,
            "'{text}' is not a wait: business days stand alone, as in 2bd (not chained with"
            " other units)",
            {"text": text[:40]},
        )
    if not re.fullmatch(BUSINESS_DAYS_PATTERN, text):
        return check_duration(text)
    problem = check_business_days(text)
    if problem is not None:
        raise PydanticCustomError(Code.CALENDAR_INVALID, problem.replace("{", "{{"))
    return text


WaitFor = Annotated[
    str,
    AfterValidator(_check_wait_for),
    Field(
        json_schema_extra={
            "pattern": f"(?:{BUSINESS_DAYS_PATTERN})|(?:{DURATION_PATTERN})",
        },
        examples=["3d", "12h", "2bd"],
    ),
]
"""A wait's length: a duration (3d, 12h) or business days on the account's calendar (2bd)."""


def _check_zone(text: str) -> str:
    problem = zone_problem(text)
    if problem is not None:
        raise PydanticCustomError(Code.TIMEZONE_UNKNOWN, problem.replace("{", "{{"))
    return text


TimeZone = Annotated[
    str,
    AfterValidator(_check_zone),
    Field(examples=["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]),
]
"""An IANA time zone name, from the tzdata package."""


def _check_date(text: str) -> str:
    try:
        day = date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        day = None
    if day is None or not date(1900, 1, 1) <= day <= date(2199, 12, 31):
        raise PydanticCustomError(
            Code.CALENDAR_INVALID,
            "'{text}' is not a date from 1900-01-01 to 2199-12-31 (write 2027-12-24)",
            {"text": text[:40]},
        )
    return text


def _check_country(text: str) -> str:
    import holidays  # only when a calendar is validated: workflows never import it

    supported = holidays.list_supported_countries()
    country, _, region = text.partition("-")
    if country not in supported:
        from difflib import get_close_matches

        close = get_close_matches(country.upper(), sorted(supported), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PydanticCustomError(
            Code.CALENDAR_INVALID,
            "'{text}' is not a country the holidays package knows: use an ISO 3166 code,"
            " as US, JP or DE" + hint,
            {"text": text[:40]},
        )
    if region and region not in supported[country]:
        raise PydanticCustomError(
            Code.CALENDAR_INVALID,
            "'{text}': {country} has no subdivision {region} in the holidays package",
            {"text": text[:40], "country": country, "region": region[:20]},
        )
    return text


Country = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2,3}(?:-[A-Za-z0-9]{1,12})?$"),
    AfterValidator(_check_country),
]
"""A country code (US, JP, DE), optionally with a subdivision (DE-BY, US-NY)."""
IsoDate = Annotated[str, AfterValidator(_check_date), Field(examples=["2027-12-24"])]


class Holidays(Model):
    """The days off of a calendar beyond its non-working weekdays."""

    countries: list[Country] = Field(default_factory=list)
    """Public holidays of these countries (or subdivisions, DE-BY), from the holidays package."""
    dates: list[IsoDate] = Field(default_factory=list)
    """The company's own days off, as 2027-12-24."""


class Calendar(Model):
    """Working days, holidays, a time zone and a send window, for the accounts it serves."""

    kind: Literal["Calendar"]
    """Always Calendar."""
    name: Slug
    """The name an account's calendar attribute uses."""
    description: str | None = None
    """Whom it is for."""
    timezone: TimeZone = "UTC"
    """The IANA time zone of the accounts it serves that carry no timezone of their own."""
    working_days: list[Day] = Field(default_factory=lambda: list(WORKING_DAYS), min_length=1)
    """The days of the week that are working days."""
    holidays: Holidays = Field(default_factory=Holidays)
    """Public holidays by country, and the company's own days off."""
    send_window: SendWindowText | None = None
    """The send window of playbooks that set none, for accounts on this calendar."""
    segments: list[Slug] = Field(default_factory=list)
    """The calendar of accounts in these segments (an account's calendar attribute wins)."""
    default: bool = False
    """The set's calendar for accounts no other calendar serves; one per set at most."""


def compile_calendar(calendar: Calendar) -> CalendarPlan:
    """The plan of a calendar: its holidays expanded into dates for FIRST_YEAR..LAST_YEAR."""
    import holidays  # compile time only

    days: set[str] = set(calendar.holidays.dates)
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    for code in calendar.holidays.countries:
        country, _, region = code.partition("-")
        found: Any = holidays.country_holidays(country, subdiv=region or None, years=years)
        days |= {day.isoformat() for day in found}
    window = parse_window(calendar.send_window) if calendar.send_window else None
    return CalendarPlan(
        name=calendar.name,
        timezone=calendar.timezone,
        working_days=sorted({DAYS.index(d) for d in calendar.working_days}),
        holidays=sorted(days),
        send_window=window if isinstance(window, WindowPlan) else None,
        segments=sorted(calendar.segments),
        default=calendar.default,
    )
