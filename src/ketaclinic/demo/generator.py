"""Deterministic synthetic patients: the same seed gives the same people and histories."""

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from ketaclinic.knowledge.codes import Concept, concept_by_key

GIVEN_FEMALE = ["Maria", "Aisha", "Emily", "Sofia", "Hannah", "Grace", "Mei", "Olivia", "Priya",
                "Chloe", "Fatima", "Rosa", "Leah", "Nora", "Ingrid", "Zoe", "Amara", "Yuki"]
GIVEN_MALE = ["James", "Luis", "Omar", "Daniel", "Wei", "Samuel", "Ethan", "Marcus", "Ravi",
              "Jonah", "Tomas", "Kwame", "Liam", "Hugo", "Andre", "Felix", "Dmitri", "Kenji"]
FAMILY = ["Garcia", "Nguyen", "Okafor", "Smith", "Kowalski", "Haddad", "Rossi", "Johnson",
          "Tanaka", "Murphy", "Patel", "Silva", "Andersen", "Cohen", "Dubois", "Mensah",
          "Lopez", "Fischer", "Kim", "Brown", "Ivanova", "Reyes", "Walker", "Hughes"]
STREETS = ["Maple Ave", "Harbor St", "Elm Rd", "Lakeview Dr", "Cedar Ln", "Main St", "Park Pl"]
RELATIONS = ["spouse", "partner", "parent", "sibling", "friend", "adult child"]
PRIMARY = [("mdd-recurrent-severe", 5), ("mdd-single-severe", 2), ("mdd", 2), ("ptsd", 3),
           ("gad", 1), ("fibromyalgia", 1), ("crps", 1)]
COMORBID = [("hypertension", 0.25), ("coronary-artery-disease", 0.05), ("heart-failure", 0.03),
            ("bipolar", 0.06), ("psychosis", 0.03), ("alcohol-dependence", 0.08),
            ("gad", 0.2), ("ptsd", 0.1)]
MEDICATIONS = [("lorazepam", 0.15, 1.0, "twice daily"), ("clonazepam", 0.12, 0.5, "twice daily"),
               ("alprazolam", 0.1, 0.5, "three times daily"), ("diazepam", 0.06, 5.0, "daily"),
               ("lamotrigine", 0.1, 100.0, "daily"), ("naltrexone", 0.05, 50.0, "daily"),
               ("methylphenidate", 0.05, 10.0, "twice daily"),
               ("amphetamine", 0.04, 10.0, "daily"), ("phenelzine", 0.03, 15.0, "three times daily")]


@dataclass
class ConditionSpec:
    """A condition to record."""

    concept: Concept
    clinical_status: str
    onset: date
    abatement: date | None = None


@dataclass
class MedicationSpec:
    """A medication to record."""

    concept: Concept
    dose_mg: float
    frequency: str
    status: str
    start: date
    end: date | None = None


@dataclass
class VitalsSpec:
    """One set of vitals to record."""

    measured_at: datetime
    systolic: float
    diastolic: float
    heart_rate: float
    spo2: float
    weight_kg: float
    height_cm: float | None


@dataclass
class PatientSpec:
    """Everything the generator decided about one synthetic patient."""

    given_name: str
    family_name: str
    birth_date: date
    sex: str
    site_index: int
    phone: str
    email: str
    address: str
    emergency_name: str
    emergency_relationship: str
    emergency_phone: str
    conditions: list[ConditionSpec] = field(default_factory=list)
    medications: list[MedicationSpec] = field(default_factory=list)
    allergies: list[tuple[Concept, str, str]] = field(default_factory=list)
    vitals: list[VitalsSpec] = field(default_factory=list)


def _weighted(rng: random.Random, options: list[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in options], weights=[w for _, w in options])[0]


def _phone(rng: random.Random) -> str:
    return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"


def generate(count: int, seed: int, today: date, now: datetime, sites: int = 2) -> list[PatientSpec]:
    """`count` synthetic patients; identical for identical arguments."""
    rng = random.Random(seed)
    people = []
    for index in range(count):
        sex = "female" if rng.random() < 0.58 else "male"
        given = rng.choice(GIVEN_FEMALE if sex == "female" else GIVEN_MALE)
        family = rng.choice(FAMILY)
        age = rng.randint(19, 78)
        birth = today - timedelta(days=age * 365 + rng.randint(0, 364))
        spec = PatientSpec(
            given_name=given, family_name=family, birth_date=birth, sex=sex,
            site_index=0 if index % 3 != 2 else min(1, sites - 1),
            phone=_phone(rng), email=f"{given}.{family}{index}@example.org".lower(),
            address=f"{rng.randint(2, 990)} {rng.choice(STREETS)}",
            emergency_name=f"{rng.choice(GIVEN_FEMALE + GIVEN_MALE)} {family}",
            emergency_relationship=rng.choice(RELATIONS), emergency_phone=_phone(rng),
        )
        _add_conditions(rng, spec, today, age)
        _add_medications(rng, spec, today)
        if rng.random() < 0.2:
            allergen = concept_by_key("medication", rng.choice(["lorazepam", "diazepam",
                                                                 "lamotrigine"]))
            spec.allergies.append((allergen, rng.choice(["rash", "hives", "nausea"]),
                                   rng.choice(["low", "unable-to-assess"])))
        _add_vitals(rng, spec, now, hypertensive=any(
            c.concept.code == concept_by_key("condition", "hypertension").code
            for c in spec.conditions))
        people.append(spec)
    return people


def _add_conditions(rng: random.Random, spec: PatientSpec, today: date, age: int) -> None:
    primary = _weighted(rng, PRIMARY)
    onset = today - timedelta(days=rng.randint(365, max(366, (age - 16) * 365)))
    spec.conditions.append(ConditionSpec(concept_by_key("condition", primary), "active", onset))
    for key, chance in COMORBID:
        if key != primary and rng.random() < chance:
            start = today - timedelta(days=rng.randint(90, 3650))
            spec.conditions.append(ConditionSpec(concept_by_key("condition", key), "active", start))
    if spec.sex == "female" and 18 <= age <= 44 and rng.random() < 0.25:
        # Mostly a past pregnancy (resolved); now and then a current one.
        start = today - timedelta(days=rng.randint(60, 3000))
        if rng.random() < 0.3 and (today - start).days < 250:
            spec.conditions.append(ConditionSpec(concept_by_key("condition", "pregnancy"),
                                                 "active", start))
        else:
            end = min(start + timedelta(days=270), today - timedelta(days=1))
            spec.conditions.append(ConditionSpec(concept_by_key("condition", "pregnancy"),
                                                 "resolved", start, end))
    if rng.random() < 0.03:
        start = today - timedelta(days=rng.randint(800, 5000))
        spec.conditions.append(ConditionSpec(
            concept_by_key("condition", "intracerebral-haemorrhage"), "resolved", start,
            start + timedelta(days=30)))


def _add_medications(rng: random.Random, spec: PatientSpec, today: date) -> None:
    for key, chance, dose, frequency in MEDICATIONS:
        if rng.random() < chance:
            start = today - timedelta(days=rng.randint(30, 2000))
            stopped = rng.random() < 0.3
            end = start + timedelta(days=rng.randint(14, 300)) if stopped else None
            if end is not None and end >= today:
                end, stopped = None, False
            spec.medications.append(MedicationSpec(
                concept_by_key("medication", key), dose, frequency,
                "stopped" if stopped else "active", start, end))


def _add_vitals(rng: random.Random, spec: PatientSpec, now: datetime, hypertensive: bool) -> None:
    weight = rng.uniform(52, 118) if spec.sex == "female" else rng.uniform(60, 130)
    height = rng.uniform(152, 178) if spec.sex == "female" else rng.uniform(165, 195)
    base_sys = rng.uniform(138, 158) if hypertensive else rng.uniform(106, 128)
    readings = rng.randint(3, 12)
    for i in range(readings):
        days_ago = (readings - i) * rng.randint(10, 35)
        moment = datetime.combine((now - timedelta(days=days_ago)).date(),
                                  time(rng.randint(13, 21), rng.choice([0, 15, 30, 45])),
                                  tzinfo=UTC)
        spec.vitals.append(_reading(rng, moment, base_sys, weight, height if i == 0 else None))
        weight += rng.uniform(-1.2, 1.0)
    if rng.random() < 0.25:
        # Some patients were seen today so the dashboard has something to show.
        moment = now - timedelta(minutes=rng.randint(5, 240))
        spec.vitals.append(_reading(rng, moment, base_sys, weight, None))


def _reading(rng: random.Random, moment: datetime, base_sys: float, weight: float,
             height: float | None) -> VitalsSpec:
    systolic = round(base_sys + rng.uniform(-9, 9))
    return VitalsSpec(
        measured_at=moment, systolic=systolic, diastolic=round(systolic * rng.uniform(0.58, 0.68)),
        heart_rate=round(rng.uniform(58, 92)), spo2=round(rng.uniform(95, 100)),
        weight_kg=round(weight, 1), height_cm=round(height) if height else None,
    )
