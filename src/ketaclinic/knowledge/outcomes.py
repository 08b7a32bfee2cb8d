"""Response, remission, end-of-induction review and relapse watch for one course; rate intervals."""

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from ketaclinic.knowledge.alert_rules import alert_rules
from ketaclinic.knowledge.instruments import instrument
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.tables import load_table


@cache
def table() -> dict[str, Any]:
    """The measurement-based-care table (measures.toml)."""
    return load_table("measures")


@dataclass(frozen=True)
class Point:
    """One measure of the course's primary instrument."""

    day: date
    total: int


@dataclass(frozen=True)
class Lines:
    """Where a course's baseline, response and remission lines sit on its instrument."""

    instrument: str
    baseline: int
    response_at_or_below: float
    remission_at_or_below: int | None
    response_source: str
    remission_source: str


@dataclass(frozen=True)
class ReviewCard:
    """The end-of-induction review: what the scores show and what the prescriber may decide."""

    state: str  # responder, partial, non-responder, worsened, not-assessable
    baseline: Point
    latest: Point
    fall_pct: float
    remission: bool
    advice: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class RelapseFlag:
    """A responder whose score has climbed back past the response line during maintenance."""

    responded: Point
    relapsed: Point
    last_session: date | None
    benefit_days: int
    suggested_interval_days: int
    evidence: tuple[Point, ...]
    source: str


@dataclass(frozen=True)
class Escalation:
    """How an escalated alert's emailed notice is retried (clinic defaults)."""

    notice_retry_after_min: tuple[int, ...]
    notice_max_attempts: int
    notice_source: str


@cache
def escalation() -> Escalation:
    """The alert notice rules."""
    row = table()["escalation"]
    return Escalation(
        notice_retry_after_min=tuple(int(m) for m in row["notice_retry_after_min"]),
        notice_max_attempts=int(row["notice_max_attempts"]),
        notice_source=str(row["notice_source"]))


def escalates_after(ruleset: RuleSet, severity: str) -> timedelta:
    """How long an alert of this severity stays open before it escalates, on a clinic's rule set
    (its `escalate_<severity>_min`)."""
    return timedelta(minutes=ruleset.value(f"escalate_{severity.replace('-', '_')}_min"))


@cache
def follow_up_actions() -> dict[str, str]:
    """The follow-up actions a clinician can record on an alert (code: words)."""
    return {k: str(v) for k, v in table()["follow_up_actions"].items() if k != "source"}


def extension_sessions() -> str:
    """How many sessions an extended induction runs to (words, with a range)."""
    return str(table()["response"]["extension_sessions"])


def response_fall_fraction() -> float:
    """The fall from baseline, as a fraction, that counts as a response."""
    return float(table()["response"]["fall_fraction"])


def primary_instruments() -> dict[str, str]:
    """The instrument response is judged on, by indication."""
    return {k: str(v[0]) for k, v in table()["occasions"].items() if isinstance(v, list)}


def link_valid_for() -> timedelta:
    """How long a questionnaire link sent to a patient stays usable."""
    return timedelta(hours=int(table()["links"]["valid_hours"]))


def primary_instrument(indication: str) -> str:
    """The instrument response and remission are judged on for an indication."""
    occasions = table()["occasions"]
    return str((occasions.get(indication) or occasions["depression"])[0])


def occasion_instruments(indication: str) -> list[str]:
    """The instruments a patient is asked for before each session of a course."""
    occasions = table()["occasions"]
    return list(occasions.get(indication) or occasions["depression"])


def lines(key: str, baseline: int) -> Lines:
    """The response and remission lines for an instrument and a baseline total."""
    form = instrument(key)
    response = table()["response"]
    if form.response_fall_points is not None:
        at_or_below = float(baseline - form.response_fall_points)
        source = form.raw["response_source"]
    else:
        at_or_below = baseline * (1 - response["fall_fraction"])
        source = response["source"]
    return Lines(key, baseline, at_or_below, form.remission_max, source, form.remission_source)


def responded(line: Lines, total: int) -> bool:
    """Whether a total meets the response line."""
    return line.baseline > 0 and total <= line.response_at_or_below


def worsening_points(key: str, ruleset: RuleSet) -> float | None:
    """The rise from baseline that counts as worsening: the instrument's rise alert (on the
    clinic's rule set), if any."""
    return next((r.on(ruleset).rise for r in alert_rules()
                 if r.instrument == key and r.rise is not None), None)


def review(key: str, points: list[Point], ruleset: RuleSet) -> ReviewCard | None:
    """The end-of-induction card from the course's measures (first is baseline, last is now),
    worsening judged by the clinic's rise."""
    if len(points) < 2:
        return None
    baseline, latest = points[0], points[-1]
    line = lines(key, baseline.total)
    response = table()["response"]
    fall = (baseline.total - latest.total) / baseline.total if baseline.total else 0.0
    remission = line.remission_at_or_below is not None and latest.total <= line.remission_at_or_below
    sources = [line.response_source]
    rise = worsening_points(key, ruleset)
    if instrument(key).band_of(baseline.total) in response["not_assessable_bands"]:
        return ReviewCard("not-assessable", baseline, latest, round(fall * 100, 1), False,
                          f"The baseline of {baseline.total} is already in the "
                          f"{instrument(key).band_of(baseline.total)} band: a response cannot "
                          "be judged on this instrument; judge benefit clinically.",
                          (response["not_assessable_source"],))
    if rise is not None and latest.total - baseline.total >= rise:
        return ReviewCard("worsened", baseline, latest, round(fall * 100, 1), False,
                          f"Scores have worsened by {latest.total - baseline.total} since the "
                          "baseline: review the plan and the patient's safety before more sessions.",
                          (response["worsening_source"],))
    if responded(line, latest.total):
        state, advice = "responder", "Response reached: continue to maintenance."
    elif fall >= response["partial_fall_fraction"]:
        state = "partial"
        advice = (f"Partial response: offer an extension to {response['extension_sessions']} "
                  "sessions; about 20 % respond late.")
        sources += [response["partial_source"], response["extension_source"]]
    else:
        state = "non-responder"
        advice = (f"No response yet: an extension to {response['extension_sessions']} sessions "
                  "may be offered, not only a stop.")
        sources.append(response["extension_source"])
    if remission:
        sources.append(line.remission_source)
    return ReviewCard(state, baseline, latest, round(fall * 100, 1), remission, advice,
                      tuple(sources))


def without_baseline(key: str, first: Point, latest: Point) -> ReviewCard:
    """The end-of-induction card of a course whose first score came after its first dose: a
    response is a fall from a score before treatment, and a later one would understate it."""
    response = table()["response"]
    return ReviewCard("not-assessable", first, latest, 0.0, False,
                      f"No {instrument(key).name} score was taken before the first session, so "
                      "there is no baseline to judge a response from (a fall from a score taken "
                      "after treatment began understates it); judge benefit clinically.",
                      (str(response["source"]),))


def relapse(key: str, points: list[Point], session_days: list[date]) -> RelapseFlag | None:
    """The latest climb back past the response line after a response, for the set number of
    consecutive measures, with a suggested interval."""
    rule = table()["relapse"]
    needed = int(rule["consecutive_measures"])
    if len(points) < 2 + needed:
        return None
    line = lines(key, points[0].total)
    response_point: Point | None = None
    flag: RelapseFlag | None = None
    above: list[Point] = []
    for point in points[1:]:
        if responded(line, point.total):
            if flag is not None:  # responded again after a relapse: a new episode starts
                response_point, flag = None, None
            response_point = response_point or point
            above = []
        elif response_point is not None and flag is None:
            above.append(point)
            if len(above) < needed:
                continue
            confirmed, point = point, above[0]  # the benefit ended at the first of them
            earlier = [d for d in session_days if d <= point.day]
            last_session = max(earlier) if earlier else None
            start = last_session or response_point.day
            benefit = max((point.day - start).days, 1)
            suggested = max(int(benefit * rule["interval_fraction"]), rule["minimum_interval_days"])
            evidence = tuple(p for p in points if response_point.day <= p.day <= confirmed.day)
            flag = RelapseFlag(response_point, point, last_session, benefit, suggested,
                               (points[0], *evidence),
                               f"{rule['source']}; {rule['consecutive_source']}")
    return flag


def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval for a proportion (0 to 1)."""
    if total == 0:
        return 0.0, 0.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def benchmarks() -> list[dict[str, Any]]:
    """The published outcome benchmarks (protocol-facts.md section 9)."""
    return list(table()["benchmarks"])
