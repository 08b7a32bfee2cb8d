"""A real FHIR client (fhirpy) against the running server: search, read with a date range, page,
and post a PHQ-9 QuestionnaireResponse that becomes a scored measure."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from fhirpy import SyncFHIRClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.db import make_engine
from ketaclinic.demo.seed import DEMO_PASSWORD
from ketaclinic.patients.models import Patient, PatientMrn, VitalSigns
from ketaclinic.treatments.models import SessionReading, TreatmentSession

pytestmark = pytest.mark.e2e


def patient_with_most_pressures(database_url: str) -> tuple[str, str, list[datetime], ZoneInfo]:
    engine = make_engine(database_url)
    with Session(engine) as db:
        # Not one of the demo's course stories: a new PHQ-9 would change their trajectory.
        storied = select(TreatmentSession.patient_pk).where(
            TreatmentSession.created_by == "demo-generator")
        pk = db.execute(select(VitalSigns.patient_pk).join(
            PatientMrn, PatientMrn.patient_pk == VitalSigns.patient_pk).where(
            VitalSigns.systolic_mmhg.is_not(None), PatientMrn.mrn.startswith("HPC"),
            VitalSigns.patient_pk.not_in(storied)).group_by(
            VitalSigns.patient_pk).order_by(func.count().desc()).limit(1)).scalar_one()
        patient = db.execute(select(Patient).where(Patient.pk == pk)).scalar_one()
        taken = list(db.execute(select(VitalSigns.measured_at).where(
            VitalSigns.patient_pk == pk, VitalSigns.systolic_mmhg.is_not(None),
            VitalSigns.status == "final")).scalars())
        # A patient at the chair now has the monitor's pressures in the record too.
        taken += db.execute(select(SessionReading.taken_at).join(
            TreatmentSession, TreatmentSession.pk == SessionReading.session_pk).where(
            TreatmentSession.patient_pk == pk, SessionReading.systolic_mmhg.is_not(None),
            SessionReading.status == "final")).scalars()
        # the zone the demo nurse's dates are read in: their site's, the patient's
        zone = ZoneInfo(db.execute(select(Site.time_zone).where(Site.code == "HPC")).scalar_one())
        found = (str(patient.id), patient.family_name, taken, zone)
    engine.dispose()
    return found


def test_fhirpy_search_read_page_and_post_a_phq9(demo_server: str, demo_database: str) -> None:
    token = httpx.post(f"{demo_server}/api/v1/auth/token", data={
        "username": "nurse", "password": DEMO_PASSWORD}).json()["access_token"]
    client = SyncFHIRClient(f"{demo_server}/fhir", authorization=f"Bearer {token}")
    patient_id, family, taken, zone = patient_with_most_pressures(demo_database)

    found = client.resources("Patient").search(name=family).fetch()
    assert patient_id in [p.id for p in found]

    since = sorted(taken)[len(taken) // 2]
    # a date searched for is the searcher's site's day
    since_day = since.astimezone(zone).date()
    expected = sum(1 for t in taken if t.astimezone(zone).date() >= since_day)
    pressures = (client.resources("Observation")
                 .search(patient=f"Patient/{patient_id}", code="http://loinc.org|85354-9")
                 .search(date__ge=since_day.isoformat())
                 .limit(2).fetch_all())
    assert expected > 2 and len(pressures) == expected, "every page was followed"
    assert len({o.id for o in pressures}) == expected
    assert all(o["component"][0]["code"]["coding"][0]["code"] == "8480-6" for o in pressures)
    newest_first = (client.resources("Observation")
                    .search(patient=f"Patient/{patient_id}", code="http://loinc.org|85354-9")
                    .search(date__ge=since_day.isoformat())
                    .sort("-date").limit(2).fetch_all())  # next links carry their cursors
    assert [o.id for o in newest_first] == [o.id for o in sorted(
        pressures, key=lambda o: datetime.fromisoformat(o["effectiveDateTime"]), reverse=True)]

    response = client.resource(
        "QuestionnaireResponse", status="completed",
        questionnaire="https://ketaclinic.org/Questionnaire/phq9",
        subject={"reference": f"Patient/{patient_id}"},
        authored=(datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        item=[{"linkId": str(n), "answer": [{"valueCoding": {"system": "http://loinc.org",
                                                             "code": "LA6569-3"}}]}
              for n in range(1, 10)])
    response.save()
    assert response.id
    measures = httpx.get(f"{demo_server}/api/v1/patients/{patient_id}/measures",
                         params={"instrument": "phq9"},
                         headers={"Authorization": f"Bearer {token}"}).json()
    latest = measures[-1]
    assert (latest["total"], latest["band"], latest["answers"]) == (9, "mild", [1] * 9)
    assert [a["rule"] for a in latest["alerts"]] == ["phq9-item9"]


def test_bulk_export_of_the_demo_network(demo_server: str, demo_database: str) -> None:
    import time

    from ketaclinic.clinics.models import Site
    from ketaclinic.patients.models import Condition

    token = httpx.post(f"{demo_server}/api/v1/auth/token", data={
        "username": "prescriber", "password": DEMO_PASSWORD}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    kicked = httpx.get(f"{demo_server}/fhir/$export", headers={**headers, "Prefer": "respond-async"})
    assert kicked.status_code == 202
    status_url = kicked.headers["content-location"]
    for _ in range(300):
        status = httpx.get(status_url, headers=headers)
        if status.status_code == 200:
            break
        assert status.status_code == 202 and status.headers["x-progress"]
        time.sleep(0.2)
    manifest = status.json()
    lines = {}
    for output in manifest["output"]:
        text = httpx.get(output["url"], headers=headers).text
        lines[output["type"]] = len(text.splitlines())
        assert lines[output["type"]] == output["count"]
    assert httpx.get(manifest["output"][0]["url"]).status_code == 401
    engine = make_engine(demo_database)
    with Session(engine) as db:
        sites = [s.pk for s in db.execute(select(Site)).scalars()]
        in_reach = select(PatientMrn.patient_pk).where(PatientMrn.site_pk.in_(sites))
        patients = db.execute(select(func.count()).select_from(Patient).where(
            Patient.pk.in_(in_reach))).scalar_one()
        conditions = db.execute(select(func.count()).select_from(Condition).where(
            Condition.patient_pk.in_(in_reach))).scalar_one()
    engine.dispose()
    assert lines["Patient"] == patients and lines["Condition"] == conditions


def _two_patients_at_one_site(database_url: str) -> list[tuple[str, str, str, str]]:
    """(id, family, given, MRN) of two patients of the first demo site with different names."""
    engine = make_engine(database_url)
    with Session(engine) as db:
        rows = db.execute(select(Patient.id, Patient.family_name, Patient.given_name,
                                 PatientMrn.mrn).join(PatientMrn, PatientMrn.patient_pk
                                                      == Patient.pk)
                          .where(PatientMrn.mrn.startswith("HPC"))
                          .order_by(Patient.family_name, Patient.pk)).all()
    engine.dispose()
    first = rows[0]
    second = next(r for r in rows if r[1] != first[1])
    return [(str(r[0]), r[1], r[2], r[3]) for r in (first, second)]


def test_fhirpy_searches_patients_by_family_identifier_and_birthdate(
        demo_server: str, demo_database: str) -> None:
    from ketaclinic.demo.seed import DEMO_PATIENT_USERNAME

    token = httpx.post(f"{demo_server}/api/v1/auth/token", data={
        "username": "nurse", "password": DEMO_PASSWORD}).json()["access_token"]
    client = SyncFHIRClient(f"{demo_server}/fhir", authorization=f"Bearer {token}")
    (pid, family, given, mrn), (other_id, _, _, other_mrn) = (
        _two_patients_at_one_site(demo_database))
    system = "https://ketaclinic.org/mrn/HPC"

    by_family = client.resources("Patient").search(family=family[:3].lower()).fetch_all()
    assert pid in {p.id for p in by_family}
    assert all(p["name"][0]["family"].lower().startswith(family[:3].lower()) for p in by_family)
    both = client.resources("Patient").search(family=family, given=given).fetch_all()
    assert pid in {p.id for p in both} and other_id not in {p.id for p in both}

    exact = client.resources("Patient").search(identifier=f"{system}|{mrn}").fetch_all()
    assert [p.id for p in exact] == [pid]
    assert client.resources("Patient").search(identifier=f"{system}|{mrn[:-1]}").fetch_all() == []
    assert client.resources("Patient").search(identifier=f"urn:other|{mrn}").fetch_all() == []
    assert client.resources("Patient").search(identifier=family).fetch_all() == []

    born = client.resource("Patient", id=pid).to_reference().to_resource()["birthDate"]
    on_the_day = client.resources("Patient").search(birthdate=born).fetch_all()
    assert pid in {p.id for p in on_the_day} and {p["birthDate"] for p in on_the_day} == {born}
    after = client.resources("Patient").search(birthdate__gt=born).fetch_all()
    assert after and all(p["birthDate"] > born for p in after)
    everyone = client.resources("Patient").limit(3).fetch_all()  # every page followed
    assert len({p.id for p in everyone}) == len(everyone) == (
        len(on_the_day) + len(after)
        + len(client.resources("Patient").search(birthdate__lt=born).fetch_all()))

    own = httpx.post(f"{demo_server}/api/v1/auth/token", data={
        "username": DEMO_PATIENT_USERNAME, "password": DEMO_PASSWORD}).json()["access_token"]
    as_patient = SyncFHIRClient(f"{demo_server}/fhir", authorization=f"Bearer {own}")
    mine = as_patient.resources("Patient").fetch_all()
    assert len(mine) == 1
    stranger_id, stranger_mrn = (other_id, other_mrn) if mine[0].id != other_id else (pid, mrn)
    found = as_patient.resources("Patient").search(
        identifier=f"{system}|{stranger_mrn}").fetch_all()
    assert found == [], "a patient's token never finds another's record"
    theirs = httpx.get(f"{demo_server}/fhir/Observation", params={"patient": stranger_id},
                       headers={"Authorization": f"Bearer {own}"})
    assert theirs.status_code == 200 and theirs.json()["total"] == 0
