"""Reading a condition's free text the way a careful clinician does: a name counts only when
nothing before it negates it or gives it to someone else; a cue can mark it as past."""

import re
from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table

CURRENT, PAST = "current", "past"


@dataclass(frozen=True)
class Cues:
    """The cue phrases of text_cues.toml, normalised."""

    window_words: int
    negation_before: tuple[str, ...]
    negation_after: tuple[str, ...]
    other_person_before: tuple[str, ...]
    past_before: tuple[str, ...]
    past_after: tuple[str, ...]
    boundaries: tuple[str, ...]
    boundaries_after: tuple[str, ...]


@dataclass(frozen=True)
class Mention:
    """A name found in the text, and whether the text says it is current or past."""

    name: str
    tense: str  # CURRENT or PAST


@cache
def cues() -> Cues:
    """The cue lists (a clinic default, sourced in the table)."""
    table = load_table("text_cues")
    return Cues(
        window_words=int(table["window_words"]),
        **{key: tuple(normalise(c) for c in table[key]) for key in (
            "negation_before", "negation_after", "other_person_before", "past_before",
            "past_after")},
        boundaries=tuple(table["boundaries"]),
        boundaries_after=tuple(table["boundaries_after"]),
    )


def normalise(text: str) -> str:
    """Lower case, hyphens and slashes as spaces (except r/o), single spaces."""
    text = text.casefold().replace("r/o", "r_o")
    text = re.sub(r"[-/]+", " ", text).replace("r_o", "r/o")
    return re.sub(r"\s+", " ", text).strip()


def _clause_around(text: str, start: int, end: int, rules: Cues) -> tuple[str, str]:
    """The words before and after a span, cut at the nearest clause boundary on each side."""
    before, after = text[:start], text[end:]
    for mark in rules.boundaries:
        cut = before.rfind(mark)
        if cut >= 0:
            before = before[cut + len(mark):]
    for mark in rules.boundaries_after:
        cut = after.find(mark)
        if cut >= 0:
            after = after[:cut]
    return before, after


def _has_cue(words: list[str], phrases: tuple[str, ...]) -> bool:
    joined = f" {' '.join(words)} "
    return any(f" {phrase} " in joined for phrase in phrases)


def find(text: str, names: tuple[str, ...], excluded: tuple[str, ...] = ()) -> Mention | None:
    """The first name the text asserts for the patient (current or past), or None.

    `excluded` are phrases that contain a name but mean something else ("pulmonary
    hypertension" is not arterial hypertension); they are taken out before searching.
    """
    rules = cues()
    clean = f" {normalise(text)} "
    for phrase in excluded:
        clean = clean.replace(f" {normalise(phrase)}", " ⟂ ")
    for name in names:
        wanted = normalise(name)
        for found in re.finditer(r"(?<![a-z])" + re.escape(wanted), clean):
            before, after = _clause_around(clean, found.start(), found.end(), rules)
            near_before = before.split()[-rules.window_words:]
            near_after = after.split()[:rules.window_words]
            if _has_cue(near_before, rules.negation_before + rules.other_person_before) or \
                    _has_cue(near_after, rules.negation_after):
                continue
            past = _has_cue(near_before, rules.past_before) or _has_cue(near_after, rules.past_after)
            return Mention(name, PAST if past else CURRENT)
    return None
