"""The clinic's rule set: the shipped parameters with the overrides its medical director set,
each within its accepted range and in order. Every domain that judges by the rule set reads it
here (screening, the chair, scheduling, measures, the chart's weights)."""

import typing

from sqlalchemy import String, cast, func, literal_column, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import RuleOverride
from ketaclinic.knowledge.ruleset import RuleSet, default_ruleset

# The clinic's overrides in force, as one text value ("parameter=value;..."; an empty value is a
# return to the default): the newest row of each parameter, so that a statement serving other
# work (a batch of readings finding its session) can carry the rule set along, and a clinic's
# history of changes is not read again at every use. Separators are SQL text, not bound values,
# so a kept plan holds them.
OVERRIDES_IN_FORCE = (
    select(func.aggregate_strings(
        RuleOverride.parameter + literal_column("'='")
        + func.coalesce(cast(RuleOverride.value, String), literal_column("''")),
        typing.cast(str, literal_column("';'"))))
    .where(RuleOverride.pk.in_(select(func.max(RuleOverride.pk)).group_by(RuleOverride.parameter)))
    .scalar_subquery())


def _stored(overrides_in_force: str | None) -> dict[str, float]:
    """The clinic's values an `OVERRIDES_IN_FORCE` value holds, of parameters the rule set has
    (one of a parameter a later rule set no longer has names no number in use)."""
    known = default_ruleset().parameters
    stored = {}
    for pair in (overrides_in_force or "").split(";"):
        parameter, _, value = pair.partition("=")
        if value and parameter in known:
            stored[parameter] = float(value)
    return stored


def in_force(overrides_in_force: str | None) -> tuple[dict[str, float], dict[str, str]]:
    """The clinic's stored values that apply, and why each other is set aside: outside its
    parameter's accepted range, or (both of them) out of the order of a pair. Either was stored
    before it was checked; the defaults are within range and in order."""
    shipped = default_ruleset()
    applied, aside = {}, {}
    for name, value in _stored(overrides_in_force).items():
        if shipped.parameters[name].admits(value):
            applied[name] = value
        else:
            aside[name] = f"the clinic's value {value:g} is outside {shipped.parameters[name].accepted}"
    broken = bool(applied)
    while broken:  # each turn sets aside at least one value, so it ends
        broken = False
        ruleset = shipped.with_overrides(applied)
        for lower, higher in shipped.ordered:
            if ruleset.value(lower) < ruleset.value(higher):
                continue
            order = (f"{lower} ({ruleset.value(lower):g}) must stay below {higher} "
                     f"({ruleset.value(higher):g})")
            for name in (lower, higher):
                if name in applied:
                    aside[name] = f"the clinic's value {applied.pop(name):g} breaks the order: {order}"
                    broken = True
    return applied, aside


def ruleset_of(overrides_in_force: str | None) -> RuleSet:
    """The shipped rule set with the overrides an `OVERRIDES_IN_FORCE` value holds, each within
    its accepted range and in order (the rules page, `evaluations.parameters`, shows why the
    others are set aside)."""
    return default_ruleset().with_overrides(in_force(overrides_in_force)[0])


def current_ruleset(*, db: Session) -> RuleSet:
    """The shipped rule set with the clinic's overrides in force."""
    return ruleset_of(db.execute(select(OVERRIDES_IN_FORCE)).scalar_one())
