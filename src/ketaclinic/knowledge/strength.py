"""The strength of one tablet or capsule of a clinical drug, read from its name as RxNorm writes
it ('Lorazepam 0.5 MG Oral Tablet', '12 HR Alprazolam 1 MG Extended Release Oral Tablet'): a
dose given as a count of tablets ('1 {tablet}', '2 tablets') is that many times it."""

import re

# How records count a dose in tablets or capsules: a word, an abbreviation, or UCUM's annotation.
COUNT_UNITS = frozenset({
    "tablet", "tablets", "tab", "tabs", "{tablet}", "{tablets}", "{tbl}", "{tab}",
    "capsule", "capsules", "cap", "caps", "{capsule}", "{capsules}", "{cap}"})
# A strength in a mass; not a concentration or a rate ('2 MG/ML', '0.025 MG/HR', 'MG/ACTUAT').
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg)\b(?!\s*/)", re.IGNORECASE)
_SOLID = re.compile(r"\b(tablet|tab|capsule|cap)s?\b", re.IGNORECASE)
_MILLIGRAMS_IN = {"mg": 1.0, "mcg": 0.001}


def strength_mg(product: str) -> float | None:
    """The milligrams in one tablet or capsule of a single-ingredient product, from its name;
    None when the name gives no strength, several (a combination product: 'Chlordiazepoxide 5
    MG / Amitriptyline 12.5 MG Oral Tablet'), a concentration, or a form that is not counted."""
    if " / " in product or not _SOLID.search(product):
        return None
    strengths = _STRENGTH.findall(product)
    if len(strengths) != 1:
        return None
    value, unit = strengths[0]
    return float(value) * _MILLIGRAMS_IN[unit.lower()]


def count_in_mg(count: float, unit: str, product: str) -> float | None:
    """A dose counted in tablets or capsules of the product, in milligrams; None if the unit is
    not a count of them or the product's name gives no single strength."""
    if unit.strip().lower() not in COUNT_UNITS:
        return None
    strength = strength_mg(product)
    return None if strength is None else count * strength
