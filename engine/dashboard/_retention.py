"""Retention (GRR, NRR, churn, expansion) of a period, with the starting book made right.

The store's history begins when an engine first runs, so an account that was a customer
long before reaches it as an ARR "first recorded" inside some period. Counted as new business
it would empty the starting book (GRR and NRR n/a) and inflate new ARR. The rule here: new
business is a signed contract (``contract.signed`` in the period); an account whose ARR is
first recorded during the period without one was already a customer, and joins the starting
book *as of* its first recorded ARR (and tier). The report says so, with when history starts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from engine.journeys._messages import HistoryChange

CHURN_EVENT = "contract.cancelled"
SIGNED_EVENT = "contract.signed"
NEW_CUSTOMER_DAYS = 90


class Window(BaseModel):
    """A reporting window ``[start, end)``; :class:`~engine.dashboard._numbers.Period` is one."""

    start: datetime
    end: datetime


class Retention(BaseModel):
    starting_accounts: int
    starting_arr: float
    as_of_accounts: int = 0
    """Of the starting book: accounts first recorded during the period without a signed
    contract, counted at their first recorded ARR (customers from before history began)."""
    history_starts: datetime | None = None
    """The store's first recorded change: nothing before it is known."""
    churned_accounts: int
    churned_arr: float
    contraction: float
    expansion: float
    expanded_accounts: int = 0
    new_arr: float
    ending_arr: float = 0.0
    """ARR of every account not cancelled, at the period's end."""
    grr: float | None
    nrr: float | None
    logo_churn: float | None
    dilation: float | None = None
    """The starting cohort's ARR at the end over its ARR at the start, as a multiple."""
    expansion_share: float | None = None
    """Expansion over ARR at the end."""
    average_expansion: float | None = None


def _arr(value: str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def _events(changes: list[HistoryChange], name: str, since: datetime, until: datetime) -> set[str]:
    return {
        c.account_id
        for c in changes
        if c.kind == "lifecycle" and c.new == name and since <= c.at < until
    }


def starting_values(
    changes: list[HistoryChange], kind: str, window: Window
) -> tuple[dict[str, str | None], set[str]]:
    """Each account's value of ``kind`` at the window's start, and which of them are *as of*
    their first record: accounts with no value before the start, first recorded in the
    window, that did not sign a contract in it."""
    signed = _events(changes, SIGNED_EVENT, window.start, window.end)
    found: dict[str, str | None] = {}
    as_of: set[str] = set()
    for change in changes:
        if change.kind != kind or change.at >= window.end:
            continue
        if change.at < window.start:
            found[change.account_id] = change.new
            as_of.discard(change.account_id)
        elif change.account_id not in found and change.account_id not in signed:
            found[change.account_id] = change.new
            as_of.add(change.account_id)
    return found, as_of


def retention(window: Window, changes: list[HistoryChange]) -> Retention:
    """GRR, NRR, logo churn and expansion of the accounts that had ARR when the period began
    (or, for customers from before history began, when their ARR was first recorded).

    Per account of that cohort: churned (a ``contract.cancelled`` event in the period) loses
    its starting ARR; otherwise its ARR at the end against its starting ARR is expansion (up)
    or contraction (down). New business (a ``contract.signed`` in the period) is reported,
    but outside GRR and NRR, as the seeds' formulas say.
    """
    cancelled_before = {
        c.account_id
        for c in changes
        if c.kind == "lifecycle" and c.new == CHURN_EVENT and c.at < window.start
    }
    churned = _events(changes, CHURN_EVENT, window.start, window.end)
    values, as_of = starting_values(changes, "arr", window)
    start_arr = {a: _arr(v) for a, v in values.items() if _arr(v) > 0 and a not in cancelled_before}
    as_of &= set(start_arr)
    end_arr: dict[str, float] = {}
    for change in changes:
        if change.kind == "arr" and change.at < window.end:
            end_arr[change.account_id] = _arr(change.new)
    expansion = contraction = churned_arr = 0.0
    expanded = 0
    for account, starting in start_arr.items():
        if account in churned:
            churned_arr += starting
            continue
        delta = end_arr.get(account, 0.0) - starting
        expansion += max(delta, 0.0)
        contraction += max(-delta, 0.0)
        expanded += delta > 0
    live = {a: v for a, v in end_arr.items() if a not in cancelled_before and a not in churned}
    new_arr = sum(v for a, v in live.items() if a not in start_arr)
    ending = sum(live.values())
    total = sum(start_arr.values())
    lost = sum(1 for a in start_arr if a in churned)
    kept = total - churned_arr - contraction
    return Retention(
        starting_accounts=len(start_arr),
        starting_arr=total,
        as_of_accounts=len(as_of),
        history_starts=changes[0].at if changes else None,
        churned_accounts=lost,
        churned_arr=churned_arr,
        contraction=contraction,
        expansion=expansion,
        expanded_accounts=expanded,
        new_arr=new_arr,
        ending_arr=ending,
        grr=kept / total if total else None,
        nrr=(kept + expansion) / total if total else None,
        logo_churn=lost / len(start_arr) if start_arr else None,
        dilation=(kept + expansion) / total if total else None,
        expansion_share=expansion / ending if ending else None,
        average_expansion=expansion / expanded if expanded else None,
    )


def previous(window: Window, changes: list[HistoryChange]) -> Retention | None:
    """Retention of the period of the same length just before ``window``; None when it lies
    wholly before history starts (there is nothing to compare with)."""
    if not changes or changes[0].at >= window.start:
        return None
    length = window.end - window.start
    return retention(Window(start=window.start - length, end=window.start), changes)


class NewCustomers(BaseModel):
    """Of the accounts that signed in the 90 days before the period's end minus 90 days
    (so each has had its first 90 days), how many did not cancel within them."""

    signed: int
    retained: int
    rate: float | None


def new_customer_retention(window: Window, changes: list[HistoryChange]) -> NewCustomers:
    """90-day retention of accounts that signed (``contract.signed``) in
    ``[start - 90 days, end - 90 days)``: each has had its first 90 days by the period's end."""
    days = timedelta(days=NEW_CUSTOMER_DAYS)
    first: dict[str, datetime] = {}
    for c in changes:
        if c.kind == "lifecycle" and c.new == SIGNED_EVENT:
            first.setdefault(c.account_id, c.at)
    signed = {a: at for a, at in first.items() if window.start - days <= at < window.end - days}
    lost = {
        c.account_id
        for c in changes
        if c.kind == "lifecycle"
        and c.new == CHURN_EVENT
        and c.account_id in signed
        and signed[c.account_id] <= c.at < signed[c.account_id] + days
    }
    retained = len(signed) - len(lost)
    return NewCustomers(
        signed=len(signed), retained=retained, rate=retained / len(signed) if signed else None
    )
