"""A patient's record as screening sees it: plain facts, independent of storage or FHIR."""

from dataclasses import dataclass, field
from datetime import date, datetime

from ketaclinic.knowledge.strength import MILLIGRAMS_IN, product_dose_mg

ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
NEVER_COUNTS = frozenset({"refuted", "entered-in-error"})
ACTIVE_MEDICATION = frozenset({"active", "intended", "on-hold", "unknown"})
NEVER_TAKEN = frozenset({"entered-in-error", "not-taken"})


@dataclass(frozen=True)
class Coding:
    """One code: system URI, code and display text."""

    system: str
    code: str
    display: str = ""


@dataclass(frozen=True)
class ConditionFact:
    """A condition with the statuses and dates that decide whether it counts."""

    ref: str
    codings: tuple[Coding, ...]
    text: str = ""
    clinical_status: str | None = None
    verification_status: str | None = None
    onset: date | None = None
    abatement: date | None = None
    recorded: date | None = None

    def counts_on(self, day: date, *, history: bool) -> bool:
        """Whether the condition counts on `day`, read as the record stood that day (a history
        rule also counts resolved ones): a condition that abated after `day` was active then,
        whatever its status says now."""
        if self.verification_status in NEVER_COUNTS:
            return False
        starts = self.onset or self.recorded
        if starts is not None and starts > day:
            return False
        if history:
            return True
        if self.abatement is not None:
            return day < self.abatement
        return self.clinical_status is None or self.clinical_status in ACTIVE_CLINICAL


@dataclass(frozen=True)
class MedicationFact:
    """A medication with its period, status and (when known) its daily dose in mg."""

    ref: str
    codings: tuple[Coding, ...]
    text: str = ""
    status: str | None = None
    start: date | None = None
    end: date | None = None
    daily_dose_mg: float | None = None

    def active_on(self, day: date) -> bool:
        """Whether the patient takes it on `day`, read as the record stood that day: a course
        that ended after `day` was being taken then, whatever its status says now."""
        if self.status in NEVER_TAKEN:
            return False
        if self.start is not None and self.start > day:
            return False
        if self.end is not None:
            return day <= self.end
        return self.status is None or self.status in ACTIVE_MEDICATION


@dataclass(frozen=True)
class AllergyFact:
    """An allergy or intolerance and whether it still stands."""

    ref: str
    codings: tuple[Coding, ...]
    text: str = ""
    clinical_status: str | None = None
    verification_status: str | None = None
    kind: str | None = None  # allergy or intolerance (FHIR's AllergyIntolerance.type); None: not stated
    criticality: str | None = None

    def counts(self) -> bool:
        """Whether the allergy is current and not refuted."""
        if self.verification_status in NEVER_COUNTS:
            return False
        return self.clinical_status in (None, "active")

    def is_hypersensitivity(self) -> bool:
        """Whether it may be a hypersensitivity: anything but an intolerance (not immune-mediated)
        whose criticality is not high."""
        return self.kind != "intolerance" or self.criticality == "high"


@dataclass(frozen=True)
class BloodPressure:
    """One blood-pressure reading."""

    ref: str
    taken: datetime
    systolic_mmhg: float | None
    diastolic_mmhg: float | None


# How a unit says its dose is already a day's: 'mg/day', 'mg/d'.
PER_DAY = ("/day", "/d")


def dose_in_mg(value: float, unit: str, product: str = "") -> tuple[float | None, bool]:
    """A dose in milligrams (None if its unit is neither a mass, nor a count of the product's
    tablets or capsules, nor millilitres of its oral liquid, with the strength its name gives),
    and whether the unit already counts a whole day's ('mg/day')."""
    unit = unit.strip().lower()
    daily = unit.endswith(PER_DAY)
    if daily:
        unit = unit.removesuffix("/day").removesuffix("/d")
    milligrams = MILLIGRAMS_IN.get(unit)
    if milligrams is None:
        return product_dose_mg(value, unit, product), daily
    return value * milligrams, daily


def pressure_text(systolic_mmhg: float | None, diastolic_mmhg: float | None) -> str:
    """A blood pressure as systolic/diastolic, an en dash for a side not taken (never a 0 that
    reads as a measurement); empty when neither was."""
    if systolic_mmhg is None and diastolic_mmhg is None:
        return ""
    return "/".join("\u2013" if side is None else f"{side:g}"
                    for side in (systolic_mmhg, diastolic_mmhg))


@dataclass(frozen=True)
class Weight:
    """One body-weight measurement."""

    ref: str
    taken: datetime
    weight_kg: float


@dataclass(frozen=True)
class ObservationFact:
    """A coded observation other than a vital sign (pregnancy status, an hCG test, breastfeeding
    status): what was observed, when, and the answer."""

    ref: str
    taken: datetime
    codes: tuple[Coding, ...]
    value_codes: tuple[Coding, ...] = ()
    value_text: str = ""
    value_boolean: bool | None = None


@dataclass(frozen=True)
class PatientRecord:
    """Everything screening reads about one patient."""

    ref: str
    birth_date: date | None
    deceased: bool = False
    # A birth date given as a year or a month alone ('1990', '2008-03') is read as its first
    # day; this is its last, when it differs: the youngest the patient may be.
    birth_date_latest: date | None = None
    conditions: tuple[ConditionFact, ...] = ()
    medications: tuple[MedicationFact, ...] = ()
    allergies: tuple[AllergyFact, ...] = ()
    blood_pressures: tuple[BloodPressure, ...] = ()
    weights: tuple[Weight, ...] = ()
    observations: tuple[ObservationFact, ...] = ()
    notes: tuple[str, ...] = field(default=())
