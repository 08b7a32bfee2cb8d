"""The demo clinic's patients screen the way a clinician reads their charts: the common
depression diagnoses ("... without psychotic features") raise no psychosis finding."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.knowledge.screening import screen
from ketaclinic.knowledge.value_sets import value_sets
from ketaclinic.patients.models import Patient
from ketaclinic.patients.record import screening_record

PSYCHOSIS_RULES = {"active-psychosis", "psychotic-disorder"}


def test_the_demo_s_depression_patients_screen_without_a_psychosis_finding(
        demo_db: Session, seeded_at: datetime) -> None:
    db = demo_db
    patients = db.execute(select(Patient).options(
        selectinload(Patient.conditions))).scalars().all()
    psychotic = value_sets()["psychotic_disorder_history"]
    depressed = 0
    for patient in patients:
        record = screening_record(patient)
        if not any("depress" in c.text.lower() for c in record.conditions):
            continue
        depressed += 1
        truly_psychotic = any(psychotic.match(c.codings, c.text) for c in record.conditions)
        found = {f.rule for f in screen(record, route="iv", on=seeded_at.date()).findings}
        if truly_psychotic:
            continue
        assert not (found & PSYCHOSIS_RULES), (patient.family_name, found,
                                               [c.text for c in record.conditions])
    assert depressed >= 20
