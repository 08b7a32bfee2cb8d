"""The strength of a clinical drug, read from its name as RxNorm writes it ('Lorazepam 0.5 MG Oral
Tablet', '12 HR Alprazolam 1 MG Extended Release Oral Tablet', 'Diazepam 1 MG/ML Oral
Solution'): a dose given as a count of tablets ('1 {tablet}', '2 tablets') is that many times a
tablet's strength, and one given in millilitres of an oral liquid that many times its
concentration."""

import re

# How records count a dose in tablets or capsules: a word, an abbreviation, or UCUM's annotation.
COUNT_UNITS = frozenset({
    "tablet", "tablets", "tab", "tabs", "{tablet}", "{tablets}", "{tbl}", "{tab}",
    "capsule", "capsules", "cap", "caps", "{capsule}", "{capsules}", "{cap}"})
VOLUME_UNITS = frozenset({"ml", "milliliter", "milliliters", "millilitre", "millilitres"})
# A strength in a mass; not a concentration or a rate ('2 MG/ML', '0.025 MG/HR', 'MG/ACTUAT').
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg)\b(?!\s*/)", re.IGNORECASE)
_CONCENTRATION = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg)\s*/\s*ml\b", re.IGNORECASE)
_SOLID = re.compile(r"\b(tablet|tab|capsule|cap)s?\b", re.IGNORECASE)
# An oral liquid, as a product's name or its form says it (a concentration of an injectable is
# not an oral dose).
ORAL_LIQUID = re.compile(r"\boral (solution|suspension|concentrate)\b", re.IGNORECASE)
# A dose's mass unit (UCUM code, or as a person writes it) and the milligrams in one of it.
MILLIGRAMS_IN = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0,
                 "grams": 1000.0, "ug": 0.001, "mcg": 0.001, "microgram": 0.001,
                 "micrograms": 0.001}


def _one(pattern: re.Pattern[str], product: str) -> float | None:
    """The one amount the pattern finds in a single-ingredient product's name, in milligrams."""
    if " / " in product:  # a combination product: which ingredient's strength is not said
        return None
    found = pattern.findall(product)
    if len(found) != 1:
        return None
    value, unit = found[0]
    return float(value) * MILLIGRAMS_IN[unit.lower()]


def strength_mg(product: str) -> float | None:
    """The milligrams in one tablet or capsule of a single-ingredient product, from its name;
    None when the name gives no strength, several (a combination product: 'Chlordiazepoxide 5
    MG / Amitriptyline 12.5 MG Oral Tablet'), a concentration, or a form that is not counted."""
    return _one(_STRENGTH, product) if _SOLID.search(product) else None


def concentration_mg_per_ml(product: str) -> float | None:
    """The milligrams in a millilitre of a single-ingredient oral liquid, from its name
    ('Diazepam 1 MG/ML Oral Solution'); None for anything else (an injectable one included)."""
    return _one(_CONCENTRATION, product) if ORAL_LIQUID.search(product) else None


def product_dose_mg(amount: float, unit: str, product: str) -> float | None:
    """A dose counted in tablets or capsules, or measured in millilitres of an oral liquid, in
    milligrams of the product; None if the unit is neither or the name gives no strength."""
    unit = unit.strip().lower()
    per_unit = (strength_mg(product) if unit in COUNT_UNITS
                else concentration_mg_per_ml(product) if unit in VOLUME_UNITS else None)
    return None if per_unit is None else amount * per_unit
