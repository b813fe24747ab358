"""Experiments: a holdout group and variants, so a playbook's effect can be measured.

A playbook's ``experiment`` splits the accounts it enrolls into arms: a holdout that gets no
customer-facing action from the playbook, variants that run their own versions of some steps,
and the rest (``treated``), which run the playbook as written. Which arm an account is in is
decided by a hash of the account id, the playbook's name and the experiment's name, never by
a random draw: the same account always lands in the same arm, in every version of the
playbook and every re-entry, in a workflow, a replay, a simulation or the report that reads
the outcomes afterwards. That hash, :func:`bucket`, is the reason this module exists; it is
pure (sha256 of text), so workflow code may call it.

The model (``Experiment``), its checks against the rest of the set (shares within the set's
maximum holdout, variant steps that exist, the critical tier a health tier) and the plan it
compiles to (``ExperimentPlan``) live here too, so the rest of the language only hooks it in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from engine.language._base import Model, Slug
from engine.language._diagnose import Finding, suggest
from engine.language._errors import Code, Loc

HOLDOUT = "holdout"
TREATED = "treated"
"""The arm of accounts in neither the holdout nor a variant: the playbook as written."""
RESERVED_ARMS = (HOLDOUT, TREATED)
DEFAULT_MAX_HOLDOUT = 0.2
"""A set's largest holdout share unless its HealthModel says otherwise: holding out more
than a fifth of the accounts a play is for costs more than the certainty it buys."""

Share = Annotated[float, Field(gt=0, lt=1)]
"""A share of the playbook's accounts, above 0 and below 1 (0.1 is 10%)."""


class Holdout(Model):
    """Accounts held out get no customer-facing action from this playbook."""

    share: Share
    """The share of enrolled accounts held out, e.g. 0.1."""
    internal: Literal["run", "skip"] = "run"
    """What held-out accounts get of the internal actions (tasks, chat, webhooks, emails to
    people who are not the customer, starting other playbooks): run them (the default: the
    CSM still knows), or skip them too."""
    escalation: Literal["when-critical", "hold"] = "when-critical"
    """With internal skip: the escalation ladder is held too, except while the account's
    health is in the critical tier (when-critical, the default: nobody in trouble is kept from
    a person for the sake of a measurement); hold holds it even then, and must be written."""
    critical: Slug = "critical"
    """The health tier that counts as critical for the guard rail above."""


class Variant(Model):
    """One version of some steps, run for its share of the accounts."""

    name: Slug
    """The arm's name, e.g. short; not holdout or treated."""
    share: Share
    """The share of enrolled accounts in this variant, e.g. 0.45."""
    steps: list[Slug] = Field(default_factory=list)
    """Ids of the steps that run only for accounts in this variant; other arms skip them.
    Tag every step of a version to test two versions of the whole playbook."""


class Experiment(Model):
    """A holdout group and/or variants of a playbook, to measure its effect."""

    name: Slug
    """The experiment's name: part of the assignment hash, so renaming it reassigns every
    account; keep it while the experiment runs."""
    holdout: Holdout | None = None
    """The holdout group."""
    variants: list[Variant] = Field(default_factory=list)
    """Two or more variants, or none."""

    @model_validator(mode="after")
    def _arms(self) -> Experiment:
        if self.holdout is None and not self.variants:
            raise PydanticCustomError(
                Code.FIELD_MISSING, "an experiment needs a 'holdout', 'variants' or both"
            )
        if len(self.variants) == 1:
            raise PydanticCustomError(
                Code.EXPERIMENT_SHARES,
                "an experiment needs two or more variants (or none): one variant is the"
                " playbook with a step left out for the rest",
            )
        names = [v.name for v in self.variants]
        for name in names:
            if name in RESERVED_ARMS:
                raise PydanticCustomError(
                    Code.NAME_DUPLICATE,
                    "variant name {name!r} is reserved for an arm of every experiment",
                    {"name": name},
                )
            if names.count(name) > 1:
                raise PydanticCustomError(
                    Code.NAME_DUPLICATE, "variant {name!r} is defined twice", {"name": name}
                )
        total = self.total_share
        if total > 1 + 1e-9:
            raise PydanticCustomError(
                Code.EXPERIMENT_SHARES,
                "the shares of the holdout and the variants sum to {total:g}, more than 1",
                {"total": total},
            )
        return self

    @property
    def total_share(self) -> float:
        return (self.holdout.share if self.holdout else 0.0) + sum(v.share for v in self.variants)


class ExperimentSettings(Model):
    """A set's rules for experiments (kept in its HealthModel, the one document a set has
    exactly one of)."""

    max_holdout: float = Field(default=DEFAULT_MAX_HOLDOUT, gt=0, le=1)
    """The largest holdout share any playbook of the set may declare, e.g. 0.2."""


def check_experiment(
    experiment: Experiment,
    step_ids: Iterable[str],
    settings: ExperimentSettings | None,
    tiers: list[str],
) -> list[Finding]:
    """What the set says about ``experiment``: the holdout within the set's maximum, variant
    steps that exist (each in one variant), and a critical tier the health model has."""
    out: list[Finding] = []
    loc: Loc = ("experiment",)
    limit = (settings or ExperimentSettings()).max_holdout
    holdout = experiment.holdout
    if holdout is not None and holdout.share > limit + 1e-9:
        out.append(
            Finding(
                (*loc, "holdout", "share"),
                Code.EXPERIMENT_SHARES,
                f"holdout share {holdout.share:g} is above this set's maximum of {limit:g}"
                " (the HealthModel's experiments.max_holdout)",
            )
        )
    if holdout is not None and tiers and holdout.critical not in tiers:
        out.append(
            Finding(
                (*loc, "holdout", "critical"),
                Code.REF_HEALTH_TIER,
                f"unknown health tier {holdout.critical!r}",
                suggest(holdout.critical, tiers),
            )
        )
    ids = list(step_ids)
    owner: dict[str, str] = {}
    for i, variant in enumerate(experiment.variants):
        for j, step in enumerate(variant.steps):
            where = (*loc, "variants", i, "steps", j)
            if step not in ids:
                out.append(
                    Finding(where, Code.REF_STEP, f"unknown step {step!r}", suggest(step, ids))
                )
            elif step in owner:
                out.append(
                    Finding(
                        where,
                        Code.NAME_DUPLICATE,
                        f"step {step!r} already belongs to variant {owner[step]!r};"
                        " a step runs in one variant or in all",
                    )
                )
            else:
                owner[step] = variant.name
    return out


# Plans and assignment -------------------------------------------------------------------


class VariantPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    share: float
    steps: list[str]


class ExperimentPlan(BaseModel):
    """A compiled experiment: the arms in the order their shares are laid on [0, 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    holdout: float = 0.0
    internal: Literal["run", "skip"] = "run"
    escalation: Literal["when-critical", "hold"] = "when-critical"
    critical: str = "critical"
    variants: list[VariantPlan] = Field(default_factory=list)

    def arms(self) -> list[tuple[str, float]]:
        """Every arm with its share: holdout, the variants, then treated (the rest)."""
        laid = ([(HOLDOUT, self.holdout)] if self.holdout else []) + [
            (v.name, v.share) for v in self.variants
        ]
        rest = 1.0 - sum(share for _, share in laid)
        return laid + ([(TREATED, rest)] if rest > 1e-9 else [])

    def arm(self, position: float) -> str:
        """The arm at ``position`` in [0, 1) (an account's :func:`bucket`)."""
        edge = 0.0
        arms = self.arms()
        for name, share in arms:
            edge += share
            if position < edge:
                return name
        return arms[-1][0]  # shares summing to 1 may leave a rounding sliver at the top

    def variant_of(self, step: str) -> str | None:
        """The variant ``step`` belongs to, or None when every arm runs it."""
        return next((v.name for v in self.variants if step in v.steps), None)


def compile_experiment(experiment: Experiment | None) -> ExperimentPlan | None:
    if experiment is None:
        return None
    holdout = experiment.holdout
    return ExperimentPlan(
        name=experiment.name,
        holdout=holdout.share if holdout else 0.0,
        internal=holdout.internal if holdout else "run",
        escalation=holdout.escalation if holdout else "when-critical",
        critical=holdout.critical if holdout else "critical",
        variants=[
            VariantPlan(name=v.name, share=v.share, steps=v.steps) for v in experiment.variants
        ],
    )


def bucket(account_id: str, playbook: str, experiment: str) -> float:
    """Where an account falls in [0, 1) for one experiment of one playbook.

    sha256 of the three names (separated by a byte no name holds), its first 8 bytes read as
    an integer over 2**64: uniform, the same on every machine and Python (``hash()`` is salted
    per process), and independent between experiments, so an account held out of one play is
    not held out of every play.
    """
    text = "\x1f".join((account_id, playbook, experiment)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") / 2**64


def assign(plan: ExperimentPlan, account_id: str, playbook: str) -> tuple[str, float]:
    """The arm of ``account_id`` in ``playbook``'s experiment, and its bucket."""
    position = bucket(account_id, playbook, plan.name)
    return plan.arm(position), position
