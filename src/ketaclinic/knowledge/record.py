"""A patient's record as screening sees it: plain facts, independent of storage or FHIR."""

from dataclasses import dataclass, field
from datetime import date, datetime

ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
NEVER_COUNTS = frozenset({"refuted", "entered-in-error"})
ACTIVE_MEDICATION = frozenset({"active", "intended", "on-hold", "unknown"})


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
        """Whether the condition counts on `day` (a history rule also counts resolved ones)."""
        if self.verification_status in NEVER_COUNTS:
            return False
        starts = self.onset or self.recorded
        if starts is not None and starts > day:
            return False
        if history:
            return True
        if self.clinical_status is not None and self.clinical_status not in ACTIVE_CLINICAL:
            return False
        return not (self.abatement is not None and self.abatement <= day)


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
        """Whether the patient takes it on `day`."""
        if self.status is not None and self.status not in ACTIVE_MEDICATION:
            return False
        if self.start is not None and self.start > day:
            return False
        return not (self.end is not None and self.end < day)


@dataclass(frozen=True)
class AllergyFact:
    """An allergy or intolerance and whether it still stands."""

    ref: str
    codings: tuple[Coding, ...]
    text: str = ""
    clinical_status: str | None = None
    verification_status: str | None = None

    def counts(self) -> bool:
        """Whether the allergy is current and not refuted."""
        if self.verification_status in NEVER_COUNTS:
            return False
        return self.clinical_status in (None, "active")


@dataclass(frozen=True)
class BloodPressure:
    """One blood-pressure reading."""

    ref: str
    taken: datetime
    systolic_mmhg: float | None
    diastolic_mmhg: float | None


@dataclass(frozen=True)
class Weight:
    """One body-weight measurement."""

    ref: str
    taken: datetime
    weight_kg: float


@dataclass(frozen=True)
class PatientRecord:
    """Everything screening reads about one patient."""

    ref: str
    birth_date: date | None
    deceased: bool = False
    conditions: tuple[ConditionFact, ...] = ()
    medications: tuple[MedicationFact, ...] = ()
    allergies: tuple[AllergyFact, ...] = ()
    blood_pressures: tuple[BloodPressure, ...] = ()
    weights: tuple[Weight, ...] = ()
    notes: tuple[str, ...] = field(default=())
