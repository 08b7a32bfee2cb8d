"""Outcome instruments as data: items, answer scales, scoring, bands, licence and source."""

from dataclasses import dataclass
from functools import cache
from typing import Any

from ketaclinic.knowledge.refusal import Refused
from ketaclinic.knowledge.tables import load_table


class AnswersRefused(Refused):
    """Answers that cannot be scored (incomplete, out of range, wrong count), naming the field."""


@dataclass(frozen=True)
class Coding:
    """A code from a code system."""

    system: str
    code: str
    display: str


@dataclass(frozen=True)
class Item:
    """One question (its wording only where the licence allows)."""

    number: int
    code: Coding
    text: str
    asked_if: int | None


@dataclass(frozen=True)
class Answer:
    """One point on an item's answer scale."""

    value: int
    text: str
    code: str | None


@dataclass(frozen=True)
class Band:
    """A severity band: totals from min to max inclusive."""

    min: int
    max: int
    label: str


@dataclass(frozen=True)
class Instrument:
    """A questionnaire or rating and how it is scored."""

    key: str
    name: str
    title: str
    rater: str
    scoring: str
    min: int
    max: int
    wording: bool
    licence: str
    source: str
    total_code: Coding
    panel_code: Coding | None
    stem: str
    items: tuple[Item, ...]
    answers: tuple[Answer, ...]
    bands: tuple[Band, ...]
    bands_source: str
    remission_max: int | None
    remission_source: str
    response_fall_points: int | None
    raw: dict[str, Any]

    @property
    def unscored_codes(self) -> frozenset[str]:
        """Codes of questions on the standard form that are not part of the score (the PHQ-9's
        difficulty question): a response holding one is read without it."""
        return frozenset(self.raw.get("unscored_codes", ()))

    @property
    def answer_range(self) -> tuple[int, int]:
        """The lowest and highest answer an item takes (for a total: the total's range)."""
        if not self.answers:
            return self.min, self.max
        values = [a.value for a in self.answers]
        return min(values), max(values)

    def band_of(self, total: int) -> str | None:
        """The severity band a total falls in (None when the instrument has no bands)."""
        return next((b.label for b in self.bands if b.min <= total <= b.max), None)


@dataclass(frozen=True)
class Score:
    """A scored form: every answer kept beside the total, band or risk level."""

    instrument: str
    answers: tuple[int | None, ...]
    total: int | None
    band: str | None
    risk_level: str | None
    basis: str


def _coding(row: dict[str, Any] | None) -> Coding | None:
    return Coding(row["system"], row["code"], row["display"]) if row else None


@cache
def instruments() -> dict[str, Instrument]:
    """Every instrument, keyed by its short name (phq9, gad7, ...)."""
    table = load_table("instruments")
    project = table["project_system"]
    found = {}
    for key, row in table.items():
        if not isinstance(row, dict):
            continue
        items = tuple(
            Item(number=i["number"],
                 code=(Coding(table["loinc_system"], i["code"], i.get("text", f"item {i['number']}"))
                       if "code" in i else Coding(project, f"{key}-{i['number']}",
                                                  f"{row['name']} item {i['number']}")),
                 text=i.get("text", "") if row["wording"] else "",
                 asked_if=i.get("asked_if"))
            for i in row.get("items", []))
        total_code = _coding(row["total_code"])
        assert total_code is not None
        found[key] = Instrument(
            key=key, name=row["name"], title=row["title"], rater=row["rater"],
            scoring=row["scoring"], min=row["min"], max=row["max"], wording=row["wording"],
            licence=row["licence"], source=row["source"], total_code=total_code,
            panel_code=_coding(row.get("panel_code")), stem=row.get("stem", ""), items=items,
            answers=tuple(Answer(a["value"], a["text"], a.get("code")) for a in row.get("answers", [])),
            bands=tuple(Band(**b) for b in row.get("bands", [])), bands_source=row["bands_source"],
            remission_max=row.get("remission_max"), remission_source=row.get("remission_source", ""),
            response_fall_points=row.get("response_fall_points"), raw=row)
    return found


def instrument(key: str) -> Instrument:
    """One instrument by key, or a refusal listing the accepted keys."""
    known = instruments()
    if key not in known:
        raise AnswersRefused("instrument", f"unknown instrument {key!r}", ", ".join(known))
    return known[key]


def _checked(form: Instrument, answers: list[int | None]) -> tuple[int | None, ...]:
    expected = len(form.items) if form.items else 1
    if len(answers) != expected:
        raise AnswersRefused("answers", f"{form.name} has {expected} answers, {len(answers)} given",
                             f"a list of {expected} answers")
    low, high = form.answer_range
    by_number = {item.number: item for item in form.items}
    kept: list[int | None] = []
    for index, value in enumerate(answers):
        number = index + 1
        item = by_number.get(number)
        asked = item is None or item.asked_if is None or (answers[item.asked_if - 1] or 0) > low
        if value is None:
            if asked:
                raise AnswersRefused(f"answers[{index}]", f"item {number} is not answered; an "
                                     "incomplete form is not scored", f"{low} to {high}")
            kept.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise AnswersRefused(f"answers[{index}]", f"{value!r} is not an answer to item {number}",
                                 f"a whole number from {low} to {high}")
        if not asked and value != low:
            raise AnswersRefused(f"answers[{index}]", f"item {number} is only asked when item "
                                 f"{item.asked_if if item else ''} is answered yes",
                                 f"leave it empty or {low}")
        kept.append(value if asked else None)
    return tuple(kept)


def score(key: str, answers: list[int | None]) -> Score:
    """Score a complete form; refuse an incomplete one or an answer off the scale."""
    form = instrument(key)
    kept = _checked(form, answers)
    given = [v or 0 for v in kept]
    if form.scoring == "cssrs-risk":
        level = next((r["level"] for r in form.raw["risk_levels"]
                      if any(given[n - 1] > 0 for n in r["items"])), "none")
        return Score(key, kept, None, None, level, form.raw["risk_source"])
    if form.scoring == "qids-domains":
        total = sum(max(given[n - 1] for n in domain) for domain in form.raw["domains"])
        basis = "sum of the nine domain scores (highest item in each multi-item domain)"
    elif form.scoring == "total":
        total = given[0]
        basis = "clinician-rated total"
    else:
        total = sum(given)
        basis = f"sum of {len(given)} items"
    return Score(key, kept, total, form.band_of(total), None, f"{basis} ({form.source})")
