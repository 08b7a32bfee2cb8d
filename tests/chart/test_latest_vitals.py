"""The chart's "Latest" line shows each vital sign's newest charted value with its own time: a
weight charted alone after a blood pressure does not hide the blood pressure, and a value marked
entered-in-error gives way to the one before it."""

import re
import uuid
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.patients import history, vitals_tally
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient, VitalSigns
from tests.treatments.test_newest_readings_plan import _inline, _plan_steps, _sorts


def _patient(db: Session, pid: str) -> Patient:
    """The patient, with the sets the test world charted marked entered-in-error: a chart of only
    what the test charts."""
    patient = db.execute(select(Patient).where(Patient.id == uuid.UUID(pid))).scalar_one()
    for vitals in db.execute(select(VitalSigns).where(
            VitalSigns.patient_pk == patient.pk)).scalars():
        vitals.status = ENTERED_IN_ERROR
    db.flush()
    return patient


def _chart(db: Session, patient: Patient, hours_ago: float, **values: float) -> VitalSigns:
    vitals = VitalSigns(patient_pk=patient.pk, created_by="nurse_a",
                        measured_at=clock.now() - timedelta(hours=hours_ago), **values)
    db.add(vitals)
    db.flush()
    return vitals


def _latest_line(html: str) -> str:
    found = re.search(r'<p class="latest">(.*?)</p>', html, re.S)
    assert found is not None, "no Latest line"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_a_weight_charted_alone_does_not_hide_the_blood_pressure_before_it(
        web, db: Session, world) -> None:
    pid = world.patients["p_a1"]
    patient = _patient(db, pid)
    _chart(db, patient, 2, systolic_mmhg=152, diastolic_mmhg=96, heart_rate_bpm=88)
    _chart(db, patient, 1, weight_kg=71.0)
    latest = history.latest_vitals(db, patient)
    assert [taken.signs for taken in latest] == [("weight",),
                                                     ("blood_pressure", "heart_rate")]
    page = web["nurse_a"].get(f"/patients/{pid}")
    assert page.status_code == 200
    line = _latest_line(page.text)
    assert "71.0 kg" in line and "BP 152/96 mmHg, HR 88/min" in line, line


def test_a_value_entered_in_error_gives_way_to_the_one_before_it(
        web, db: Session, world) -> None:
    pid = world.patients["p_a1"]
    patient = _patient(db, pid)
    _chart(db, patient, 3, systolic_mmhg=124, diastolic_mmhg=78)
    wrong = _chart(db, patient, 1, systolic_mmhg=214, diastolic_mmhg=130)
    wrong.status = ENTERED_IN_ERROR
    db.flush()
    line = _latest_line(web["nurse_a"].get(f"/patients/{pid}").text)
    assert "BP 124/78 mmHg" in line and "214" not in line, line


def test_a_chart_without_vital_signs_has_no_latest_line(web, db: Session, world) -> None:
    patient = _patient(db, world.patients["p_a1"])
    assert history.latest_vitals(db, patient) == []
    assert 'class="latest"' not in web["nurse_a"].get(f"/patients/{world.patients['p_a1']}").text


def test_each_signs_newest_set_is_read_without_sorting_the_chart(migrated_engine: Engine
                                                                  ) -> None:
    sql = _inline(migrated_engine, history._newest_of_each(tuple(vitals_tally.TALLIED)),
                  {"patient_pk": 1})
    steps = _plan_steps(migrated_engine, sql)
    assert steps and not _sorts(steps), steps
