"""Questionnaire pages (link, portal, staff entry), the outcomes page and the research export."""

import csv
import html
import io
import re
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.measures.models import Measure, MeasureRequest
from ketaclinic.patients.models import Patient, PatientMrn
from tests.conftest import csrf_of

PHQ9_ITEM9 = {f"phq9.{n}": "1" for n in range(1, 10)}
GAD7_NONE = {f"gad7.{n}": "0" for n in range(1, 8)}
CSSRS_NONE = {"cssrs.1": "0", "cssrs.2": "0", "cssrs.6": "0"}


def count(db: Session) -> int:
    return db.execute(select(func.count()).select_from(Measure)).scalar_one()


def new_link(api, pid: str, **extra) -> str:
    response = api["frontdesk"].post(f"/api/v1/patients/{pid}/measure-links",
                                     json={"email": False, **extra})
    assert response.status_code == 201, response.text
    assert response.json()["send_error"] == ""
    return "/q/" + response.json()["url"].rsplit("/q/", 1)[1]


def test_link_form_refuses_an_incomplete_form_then_stores_once(api, anon, world, db) -> None:
    path = new_link(api, world.patients["p_a1"])
    form = anon.get(path)
    assert form.status_code == 200 and "Little interest or pleasure" in form.text
    csrf = csrf_of(form.text)
    partial = {**PHQ9_ITEM9, **GAD7_NONE, **CSSRS_NONE, "csrf_token": csrf}
    del partial["phq9.4"]
    refused = anon.post(path, data=partial)
    assert refused.status_code == 422 and count(db) == 0
    assert "PHQ-9: item 4 is not answered" in html.unescape(refused.text)
    assert 'value="1" checked' in refused.text, "answers given are kept"
    done = anon.post(path, data={**PHQ9_ITEM9, **GAD7_NONE, **CSSRS_NONE, "csrf_token": csrf})
    assert done.status_code == 200 and 'id="crisis-message"' in done.text
    assert "Test crisis line: call 000 000" in done.text
    assert count(db) == 3
    sources = set(db.execute(select(Measure.source)).scalars())
    assert sources == {"patient-link"}
    again = anon.post(path, data={**PHQ9_ITEM9, **GAD7_NONE, **CSSRS_NONE, "csrf_token": csrf})
    assert again.status_code == 410 and count(db) == 3
    assert anon.get(path).status_code == 410


def test_no_crisis_message_without_suicidality(api, anon, world) -> None:
    path = new_link(api, world.patients["p_a2"], instruments=["gad7"])
    csrf = csrf_of(anon.get(path).text)
    done = anon.post(path, data={**GAD7_NONE, "csrf_token": csrf})
    assert done.status_code == 200 and "crisis-message" not in done.text


def test_expired_and_unknown_links(api, anon, world, db: Session) -> None:
    path = new_link(api, world.patients["p_a1"])
    db.execute(update(MeasureRequest).values(expires_at=clock.now() - timedelta(minutes=1)))
    assert anon.get(path).status_code == 410
    assert "expired" in anon.get(path).text
    assert anon.get("/q/not-a-real-token").status_code == 404


def test_link_refuses_unknown_or_clinician_instruments(api, world) -> None:
    response = api["frontdesk"].post(f"/api/v1/patients/{world.patients['p_a1']}/measure-links",
                                     json={"email": False, "instruments": ["madrs"]})
    assert response.status_code == 422 and "instruments[0]" in response.text


def test_patient_answers_in_the_portal(api, web, world, db) -> None:
    new_link(api, world.patients["p_a1"], instruments=["gad7"])
    client = web["patient_a1"]
    record = client.get("/me")
    found = re.search(r'href="(/me/questionnaires/[0-9a-f-]+)"', record.text)
    assert found, "the pending questionnaire is listed in the portal"
    csrf = csrf_of(client.get(found.group(1)).text)
    done = client.post(found.group(1), data={**GAD7_NONE, "csrf_token": csrf})
    assert done.status_code == 200 and count(db) == 1
    assert db.execute(select(Measure.source)).scalar_one() == "portal"
    assert client.get(found.group(1)).status_code == 404


def test_staff_entry_on_the_patients_behalf(web, world, db) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    form = client.get(f"/patients/{pid}/measures/new", params={"instrument": "madrs"})
    assert form.status_code == 200 and 'id="madrs-item-10"' in form.text
    csrf = csrf_of(form.text)
    items = {f"madrs.{n}": "2" for n in range(1, 11)}
    bad = client.post(f"/patients/{pid}/measures/new?instrument=madrs",
                      data={**items, "madrs.1": "7", "csrf_token": csrf})
    assert bad.status_code == 422 and "0 to 6" in bad.text and count(db) == 0
    good = client.post(f"/patients/{pid}/measures/new?instrument=madrs",
                       data={**items, "occasion": "baseline", "csrf_token": csrf},
                       follow_redirects=False)
    assert good.status_code == 303 and count(db) == 1
    assert db.execute(select(Measure.source)).scalar_one() == "staff"
    page = client.get(f"/patients/{pid}/measures")
    assert "MADRS" in page.text and "staff, baseline" in page.text


def test_outcomes_page_and_permissions(web, world) -> None:
    page = web["prescriber"].get("/outcomes")
    assert page.status_code == 200 and "Clinic outcomes" in page.text
    assert web["nurse_a"].get("/outcomes").status_code == 403
    bad = web["prescriber"].get("/outcomes", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in html.unescape(bad.text)
    assert web["nurse_a"].get("/outcomes/research-export.csv").status_code == 403


def test_research_export_holds_no_direct_identifiers(api, web, world, db: Session) -> None:
    for key in ("p_a1", "p_a2"):
        pid = world.patients[key]
        db.execute(update(Patient).where(Patient.id == uuid.UUID(pid)).values(
            email=f"{key}@example.org", phone="+1 617 555 0142", address="1 Main St, Boston"))
        for answers in ([2] * 9, [1] * 9):
            api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                                json={"instrument": "phq9", "answers": answers})
    response = web["admin"].get("/outcomes/research-export.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    text = response.text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and {r["total"] for r in rows} == {"18", "9"}
    patients = db.execute(select(Patient)).scalars().all()
    mrns = db.execute(select(PatientMrn.mrn)).scalars().all()
    forbidden = [*mrns, "example.org", "617 555 0142", "Main St", "Boston"]
    for p in patients:
        forbidden += [p.family_name, str(p.id), str(p.id).replace("-", ""), p.birth_date.isoformat()]
    # the real dates, as the export would give them: the day at the site (New York)
    forbidden += [clock.date_in(m.taken_at, "America/New_York").isoformat()
                  for m in db.execute(select(Measure)).scalars()]
    for value in forbidden:
        assert value.lower() not in text.lower(), f"{value!r} is in the export"
    assert {r["age_band"] for r in rows} == {"40-49"}
    assert len({r["subject"] for r in rows}) == 2


def test_links_due_follow_the_course_plan(api, world, db: Session) -> None:
    from datetime import date

    from ketaclinic.kernel.actor import Actor
    from ketaclinic.measures import links

    pid = world.patients["p_a1"]
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                     json={"route": "iv"}).json()
    start = date(2026, 12, 7)  # a Monday
    signed = api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign",
                                    json={"decision": "start", "plan_start": start.isoformat()})
    assert signed.status_code == 200, signed.text
    plan = [date.fromisoformat(s["date"]) for s in signed.json()["plan"]["sessions"]]
    system = Actor(username="cli:test", role="system")
    expected = {plan[0]: "baseline", plan[1]: "before-session",
                plan[5] + timedelta(days=1): "end-of-induction"}
    for day, occasion in expected.items():
        [created] = links.send_due(db=db, day=day, actor=system)
        assert created.occasion == occasion and created.due_on == day
        assert "no email address" in created.send_error
        assert links.send_due(db=db, day=day, actor=system) == [], "one link per course and day"
    assert links.send_due(db=db, day=plan[0] - timedelta(days=1), actor=system) == []


def test_progress_page_charts_every_instrument_with_totals(api, web, world) -> None:
    pid = world.patients["p_a2"]
    for instrument, answers in (("gad7", [1] * 7), ("gad7", [2] * 7), ("pain", [6]),
                                ("cssrs", [0, 0, None, None, None, 0, None])):
        api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                            json={"instrument": instrument, "answers": answers})
    page = web["nurse_a"].get(f"/patients/{pid}/measures")
    assert page.status_code == 200
    assert 'id="chart-gad7"' in page.text and 'id="chart-pain"' in page.text
    assert 'id="chart-cssrs"' not in page.text  # a risk level, not a total
    assert 'aria-label="GAD-7 trajectory"' in page.text and "moderate" in page.text


def test_the_research_export_counts_course_days_on_the_site_s_clock(api, web, world,
                                                                    db: Session) -> None:
    """Two scores on one evening in New York, 09:00 and 21:30 (01:30 the next day in UTC), are
    on the course's same day."""
    from tests.treatments.test_ingest import signed_evaluation

    pid = world.patients["p_a1"]
    signed_evaluation(api, pid)
    for taken in ("2026-10-15T09:00:00-04:00", "2026-10-15T21:30:00-04:00"):
        created = api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
            "instrument": "phq9", "answers": [1] * 9, "taken_at": taken})
        assert created.status_code == 201, created.text
    rows = list(csv.DictReader(io.StringIO(
        web["admin"].get("/outcomes/research-export.csv").text)))
    assert [r["course_day"] for r in rows] == ["0", "0"]
    assert len({r["shifted_date"] for r in rows}) == 1
