"""Pregnancy and breastfeeding read from Observations: a current "yes" counts like a Condition."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from ketaclinic.knowledge.codes import code_systems
from ketaclinic.knowledge.record import ObservationFact
from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.text_match import normalise

YES, NO = "yes", "no"


@dataclass(frozen=True)
class StatusObservation:
    """One kind of observation that says whether a condition is present (status_observations.toml)."""

    value_set: str
    title: str
    loinc: frozenset[str]
    names: dict[str, str]
    positive: frozenset[str]
    negative: frozenset[str]
    positive_text: tuple[str, ...]
    negative_text: tuple[str, ...]
    window_parameter: str
    source: str

    def observes(self, observation: ObservationFact) -> bool:
        """Whether the observation is of this kind (by its LOINC code)."""
        loinc = code_systems()["loinc"].uri
        return any(c.system == loinc and c.code in self.loinc for c in observation.codes)

    def answer(self, observation: ObservationFact) -> str | None:
        """YES, NO, or None when the answer cannot be read."""
        codes = {c.code for c in observation.value_codes}
        if codes & self.positive:
            return YES
        if codes & self.negative:
            return NO
        if observation.value_boolean is not None:
            return YES if observation.value_boolean else NO
        text = normalise(" ".join([observation.value_text,
                                   *(c.display for c in observation.value_codes)]))
        if _says(text, self.negative_text):
            return NO
        if _says(text, self.positive_text):
            return YES
        return None


def _says(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether the answer is one of the phrases (short ones such as "no" only on their own)."""
    return any(text == phrase or (len(phrase) > 3 and f" {phrase} " in f" {text} ")
               for phrase in phrases)


@cache
def status_observations() -> tuple[StatusObservation, ...]:
    """Every kind of status observation."""
    return tuple(
        StatusObservation(
            value_set=row["value_set"], title=row["title"], loinc=frozenset(row["loinc"]),
            names={str(code): str(name) for code, name in row["names"].items()},
            positive=frozenset(row["positive"]), negative=frozenset(row["negative"]),
            positive_text=tuple(normalise(t) for t in row["positive_text"]),
            negative_text=tuple(normalise(t) for t in row["negative_text"]),
            window_parameter=row["window_parameter"], source=row["source"])
        for row in load_table("status_observations")["observation"])


@cache
def watched_codes() -> frozenset[str]:
    """Every LOINC code an observation that says pregnant or breastfeeding comes under."""
    return frozenset().union(*(kind.loinc for kind in status_observations()))


def kind_of(code: str) -> StatusObservation | None:
    """The kind of status observation a LOINC code records, if any."""
    return next((kind for kind in status_observations() if code in kind.loinc), None)


def charted_codes() -> dict[str, str]:
    """Every LOINC code a status observation can be charted under, with its name."""
    return {code: name for kind in status_observations() for code, name in kind.names.items()}


def current_yes(observations: tuple[ObservationFact, ...], value_set: str, day: date,
                window_days: dict[str, float], local_date: Callable[[datetime], date]
                ) -> tuple[ObservationFact, StatusObservation] | None:
    """The latest readable observation for the value set on or before `day`, if it says yes and
    is recent enough (each kind's window in days, by parameter name)."""
    readable = []
    for kind in status_observations():
        if kind.value_set != value_set:
            continue
        earliest = day - timedelta(days=window_days[kind.window_parameter])
        for observation in observations:
            taken_on = local_date(observation.taken)
            if kind.observes(observation) and earliest <= taken_on <= day:
                answer = kind.answer(observation)
                if answer is not None:
                    readable.append((observation.taken, answer, observation, kind))
    if not readable:
        return None
    _, answer, observation, kind = max(readable, key=lambda r: r[0])
    return (observation, kind) if answer == YES else None

