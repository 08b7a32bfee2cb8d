"""The registry pages: register, edit, record entries and corrections; bad input re-shows the form."""

import html
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.patients.models import Condition, Medication, Patient, VitalSigns
from tests.conftest import csrf_of

FORM = {"given_name": "Ana", "family_name": "Quispe", "birth_date": "1990-01-31", "sex": "female",
        "site": "A", "phone": "(617) 555-0123"}


def count(db: Session, model: type) -> int:
    return db.execute(select(func.count()).select_from(model)).scalar_one()


def test_register_through_the_form(web, db: Session) -> None:
    client = web["frontdesk"]
    csrf = csrf_of(client.get("/patients/new").text)
    response = client.post("/patients/new", data={**FORM, "csrf_token": csrf},
                           follow_redirects=False)
    assert response.status_code == 303
    chart = client.get(response.headers["location"])
    assert "Ana Quispe" in chart.text and "A000" in chart.text
    found = client.get("/patients", params={"q": "quispe"})
    assert "Quispe, Ana" in found.text


def test_form_with_future_birth_date_is_reshown_and_nothing_stored(web, db: Session) -> None:
    client = web["frontdesk"]
    csrf = csrf_of(client.get("/patients/new").text)
    before = count(db, Patient)
    future = (date.today() + timedelta(days=5)).isoformat()
    response = client.post("/patients/new", data={**FORM, "birth_date": future, "csrf_token": csrf})
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "Nothing was saved" in text and "Birth date: is in the future" in text
    assert 'value="Quispe"' in response.text, "what the user typed is kept"
    assert count(db, Patient) == before


def test_form_missing_a_required_field(web, db: Session) -> None:
    client = web["frontdesk"]
    csrf = csrf_of(client.get("/patients/new").text)
    data = {k: v for k, v in FORM.items() if k != "family_name"}
    response = client.post("/patients/new", data={**data, "csrf_token": csrf})
    assert response.status_code == 422 and "Family name: Field required" in response.text


def test_vitals_form_rejects_impossible_values(web, world, db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    csrf = csrf_of(client.get(f"/patients/{pid}").text)
    before = count(db, VitalSigns)
    response = client.post(f"/patients/{pid}/entries/vitals",
                           data={"csrf_token": csrf, "weight_kg": "400", "systolic_mmhg": "350"})
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "Weight (kg): 400 is outside the possible range (accepted: 20 to 350 kg)" in text
    assert "Systolic pressure (mmHg): 350 is outside the possible range (accepted: 40 to 300 mmHg)" in text
    assert count(db, VitalSigns) == before
    good = client.post(f"/patients/{pid}/entries/vitals",
                       data={"csrf_token": csrf, "weight_kg": "81.5", "systolic_mmhg": "128",
                             "diastolic_mmhg": "82"}, follow_redirects=False)
    assert good.status_code == 303 and count(db, VitalSigns) == before + 1


def test_condition_form_rejects_unknown_code_system(web, world, db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    csrf = csrf_of(client.get(f"/patients/{pid}").text)
    response = client.post(f"/patients/{pid}/entries/conditions", data={
        "csrf_token": csrf, "system": "made-up", "code": "1", "display": "x"})
    assert response.status_code == 422
    assert "System: unknown code system &#39;made-up&#39;" in response.text


def test_condition_form_lists_a_condition_where_the_clinician_chose(web, world,
                                                                   db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    csrf = csrf_of(client.get(f"/patients/{pid}").text)
    form = {"csrf_token": csrf, "system": "snomed", "code": "35489007",
            "display": "Depressive disorder", "clinical_status": "active"}
    before = count(db, Condition)
    refused = client.post(f"/patients/{pid}/entries/conditions",
                          data={**form, "category": "diagnosis"})
    assert refused.status_code == 422
    assert "Category: Input should be" in refused.text and "health-concern" in refused.text
    assert count(db, Condition) == before
    saved = client.post(f"/patients/{pid}/entries/conditions",
                        data={**form, "category": "encounter-diagnosis"})
    assert saved.status_code in (200, 303), saved.text[:300]
    newest = db.execute(select(Condition).order_by(Condition.pk.desc()).limit(1)).scalar_one()
    assert (newest.code, newest.category) == ("35489007", "encounter-diagnosis")
    assert "encounter diagnosis" in client.get(f"/patients/{pid}").text


def test_medication_entered_in_error_from_the_chart(web, world, db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    csrf = csrf_of(client.get(f"/patients/{pid}").text)
    client.post(f"/patients/{pid}/entries/medications", data={
        "csrf_token": csrf, "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "596", "display": "alprazolam", "dose_value": "0.5", "dose_unit": "mg"})
    med = db.execute(select(Medication).order_by(Medication.pk.desc()).limit(1)).scalar_one()
    short = client.post(f"/patients/{pid}/entries/medications/{med.id}/entered-in-error",
                        data={"csrf_token": csrf, "reason": "x"})
    assert short.status_code == 422 and "reason" in short.text
    done = client.post(f"/patients/{pid}/entries/medications/{med.id}/entered-in-error",
                       data={"csrf_token": csrf, "reason": "wrong drug"}, follow_redirects=False)
    assert done.status_code == 303
    chart = client.get(f"/patients/{pid}")
    assert "entered in error by nurse_a: wrong drug" in chart.text
    db.refresh(med)
    assert med.status == "entered-in-error"


def test_edit_demographics_form(web, world, db: Session) -> None:
    client = web["frontdesk"]
    pid = world.patients["p_a2"]
    page = client.get(f"/patients/{pid}/edit")
    assert 'value="TestP_A2"' in page.text
    csrf = csrf_of(page.text)
    bad = client.post(f"/patients/{pid}/edit", data={"csrf_token": csrf, "email": "not-an-email"})
    assert bad.status_code == 422 and "email" in bad.text
    ok = client.post(f"/patients/{pid}/edit", data={"csrf_token": csrf, "phone": "(617) 555-0177"},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert "+16175550177" in client.get(f"/patients/{pid}").text


def test_search_with_a_bad_birth_date(web, db: Session) -> None:
    response = web["frontdesk"].get("/patients", params={"birth_date": "31/01/1990"})
    assert response.status_code == 422 and "YYYY-MM-DD" in response.text


def test_dashboard_shows_today_at_the_site(web, world, db: Session) -> None:
    page = web["nurse_a"].get("/dashboard")
    assert "Today at Site A" in page.text and "America/New_York" in page.text
    assert "TestP_A1" in page.text, "seeded vitals were taken today"
    assert "TestP_B1" not in page.text
    other_site = web["prescriber"].get("/dashboard", params={"site": "B"})
    assert "Today at Site B" in other_site.text and "TestP_B1" in other_site.text


def test_the_chart_shows_each_medication_s_day_dose_as_screening_reads_it(web, world) -> None:
    """A prescriber sees the day's dose screening works the benzodiazepine load from, and which
    doses it cannot read (and will ask for), beside the dose and frequency typed."""
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    csrf = csrf_of(client.get(f"/patients/{pid}").text)
    for frequency, display in (("1 tab ac and hs", "Lorazepam 0.5 MG Oral Tablet"),
                               ("when anxious", "alprazolam")):
        done = client.post(f"/patients/{pid}/entries/medications", data={
            "csrf_token": csrf, "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "6470", "display": display, "dose_value": "1", "dose_unit": "tablet",
            "frequency": frequency, "status": "active"}, follow_redirects=False)
        assert done.status_code == 303, done.text
    chart = client.get(f"/patients/{pid}").text
    row = chart[chart.index("Lorazepam 0.5 MG Oral Tablet"):]
    assert '<td class="day-dose">2 mg</td>' in row[:row.index("</tr>")]
    row = chart[chart.index(">alprazolam<"):]
    assert "not read" in row[:row.index("</tr>")]


def test_a_weight_in_pounds_is_refused_until_the_change_is_confirmed(web, api, world,
                                                                       db: Session) -> None:
    """154 typed for a 70 kg patient (their pounds) passed the range check (20 to 350 kg) and
    became the weight doses were signed by. A weight more than 20 % from the last charted one
    is refused, naming the pounds reading, unless the change is confirmed."""
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    csrf = csrf_of(client.get(f"/patients/{pid}").text)
    assert client.post(f"/patients/{pid}/entries/vitals", data={
        "csrf_token": csrf, "weight_kg": "70"}, follow_redirects=False).status_code == 303
    before = count(db, VitalSigns)
    refused = client.post(f"/patients/{pid}/entries/vitals",
                          data={"csrf_token": csrf, "weight_kg": "154"})
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "154 kg is 120 % above the last weight charted" in text
    assert "154 lb would be 69.9 kg" in text and 'id="v-weight-confirmed"' in refused.text
    assert count(db, VitalSigns) == before
    api_refused = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={"weight_kg": 154})
    assert api_refused.status_code == 422 and "weight_change_confirmed" in api_refused.text
    kept = client.post(f"/patients/{pid}/entries/vitals", data={
        "csrf_token": csrf, "weight_kg": "154", "weight_change_confirmed": "true"},
        follow_redirects=False)
    assert kept.status_code == 303 and count(db, VitalSigns) == before + 1
    # A weight within the margin is charted as before.
    assert client.post(f"/patients/{pid}/entries/vitals", data={
        "csrf_token": csrf, "weight_kg": "150"}, follow_redirects=False).status_code == 303
