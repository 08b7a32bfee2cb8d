"""A patient who has died: imported as such, recorded on the chart, and never screened, booked
or reminded. An EHR's deceased patient was registered as living (the chart kept no death), so
screening the chart found them eligible where the same record through CDS Hooks was refused,
and nothing stopped a booking or an appointment reminder to their family."""

import html
import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic import mail as email
from ketaclinic.audit.models import AuditEvent
from ketaclinic.errors import Conflict
from ketaclinic.scheduling import booking, reminders
from ketaclinic.scheduling.models import BOOKED, CANCELLED, Reminder
from tests.conftest import csrf_of
from tests.examples import synthea_bundle
from tests.scheduling.helpers import (
    DESK,
    NEW_YORK,
    course,
    sender_to,
    staffed_site,
    weekday_ahead_at,
)
from tests.server_helpers import free_port


def _import_gus(api) -> str:
    bundle = json.loads(synthea_bundle("Gus973").read_bytes())
    response = api["nurse_a"].post("/fhir", json=bundle)
    assert response.status_code == 200, response.text
    return response.json()["entry"][0]["response"]["location"].split("/", 1)[1]


def test_an_imported_deceased_patient_is_recorded_as_deceased_and_not_screened(
        api, world, db: Session) -> None:
    pid = _import_gus(api)
    shown = api["nurse_a"].get(f"/api/v1/patients/{pid}").json()
    assert (shown["deceased"], shown["deceased_on"]) == (True, "1934-01-15")
    assert api["nurse_a"].get(f"/fhir/Patient/{pid}").json()["deceasedDateTime"] == "1934-01-15"
    screened = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations", json={"route": "iv"})
    assert screened.status_code == 409, screened.text
    assert "deceased" in screened.json()["detail"]


def test_a_death_is_recorded_checked_and_taken_back(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    url = f"/api/v1/patients/{pid}"
    born = api["nurse_a"].get(url).json()["birth_date"]
    tomorrow = (clock.now() + timedelta(days=2)).date().isoformat()
    for body, why in (({"deceased_on": tomorrow}, "is in the future"),
                      ({"deceased_on": "1900-01-02"}, f"is before the birth date {born}"),
                      ({"deceased": False, "deceased_on": "2026-01-02"}, "said to be living"),
                      ({"deceased": 1}, "deceased")):
        refused = api["nurse_a"].patch(url, json=body)
        assert refused.status_code == 422 and why in refused.text, (body, refused.text)
    assert api["nurse_a"].get(url).json()["deceased"] is False
    recorded = api["nurse_a"].patch(url, json={"deceased_on": "2026-11-01"}).json()
    assert (recorded["deceased"], recorded["deceased_on"]) == (True, "2026-11-01")
    refused = api["nurse_a"].post(f"{url}/evaluations", json={"route": "iv"})
    assert refused.status_code == 409
    taken_back = api["nurse_a"].patch(url, json={"deceased": False}).json()
    assert (taken_back["deceased"], taken_back["deceased_on"]) == (False, None)
    assert api["nurse_a"].post(f"{url}/evaluations", json={"route": "iv"}).status_code == 201


def test_no_booking_and_no_reminder_for_a_patient_who_has_died(api, world, db: Session) -> None:
    site = staffed_site(db)
    starts = weekday_ahead_at(11)
    _, patient = course(db, "iv", starts.date())
    patient.email = "pat@example.org"
    booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=starts, actor=DESK)
    assert api["nurse_a"].patch(f"/api/v1/patients/{patient.id}",
                                json={"deceased": True}).status_code == 200
    db.refresh(patient)
    try:
        booking.book(db=db, site=site, patient=patient, kind="iv",
                     starts_at=starts + timedelta(hours=2), actor=DESK)
        raise AssertionError("a deceased patient was booked")
    except Conflict as refused:
        assert "recorded as deceased" in str(refused)
    [reminder] = db.execute(select(Reminder)).scalars().all()
    email.use_sender(sender_to(free_port()))  # a message sent would fail: none is tried
    try:
        reminders.send_due(db, now=starts - timedelta(hours=23))
    finally:
        email.use_sender(None)
    assert (reminder.status, reminder.attempts) == (reminders.CANCELLED, 0)


def test_the_chart_shows_the_death_and_the_edit_form_records_one(web, world, db: Session) -> None:
    client = web["nurse_a"]
    pid = world.patients["p_a1"]
    form = client.get(f"/patients/{pid}/edit").text
    assert 'id="deceased_on"' in form and 'value="None"' not in form
    values = {"csrf_token": csrf_of(form), "deceased_on": "2999-01-01"}
    wrong = client.post(f"/patients/{pid}/edit", data=values)
    assert wrong.status_code == 422 and "is in the future" in html.unescape(wrong.text)
    assert 'id="deceased"' not in client.get(f"/patients/{pid}").text
    saved = client.post(f"/patients/{pid}/edit", data={**values, "deceased_on": "2026-11-01"},
                        follow_redirects=False)
    assert saved.status_code == 303
    chart = client.get(f"/patients/{pid}").text
    assert '<span class="badge deceased" id="deceased">Deceased 2026-11-01</span>' in chart


def test_no_questionnaire_link_for_a_patient_who_has_died(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    url = f"/api/v1/patients/{pid}/measure-links"
    assert api["frontdesk"].post(url, json={"email": False}).status_code == 201
    assert api["nurse_a"].patch(f"/api/v1/patients/{pid}", json={"deceased": True}).status_code == 200
    refused = api["frontdesk"].post(url, json={"email": True})
    assert refused.status_code == 409 and "deceased" in refused.json()["detail"]


def test_recording_a_death_cancels_what_is_booked_ahead_and_nothing_else(
        api, world, db: Session) -> None:
    site = staffed_site(db)
    starts = weekday_ahead_at(11)
    _, dying = course(db, "iv", starts.date())
    _, living = course(db, "iv", starts.date(), patient_key=1)
    dying.email = "pat@example.org"
    theirs = booking.book(db=db, site=site, patient=dying, kind="iv", starts_at=starts, actor=DESK)
    other = booking.book(db=db, site=site, patient=living, kind="iv",
                         starts_at=starts + timedelta(hours=2), actor=DESK)
    recorded = api["nurse_a"].patch(f"/api/v1/patients/{dying.id}",
                                    json={"deceased_on": clock.today(NEW_YORK).isoformat()})
    assert recorded.status_code == 200, recorded.text
    db.refresh(theirs)
    db.refresh(other)
    assert (theirs.status, theirs.cancel_reason, theirs.late_cancel) == (
        CANCELLED, booking.PATIENT_DIED, False), "not a late cancellation of the patient's"
    assert other.status == BOOKED
    assert {r.status for r in db.execute(select(Reminder).where(
        Reminder.appointment_pk == theirs.pk)).scalars()} == {reminders.CANCELLED}
    [cancelled] = db.execute(select(AuditEvent).where(
        AuditEvent.record_type == "Appointment", AuditEvent.record_id == str(theirs.id),
        AuditEvent.action == "cancel")).scalars().all()
    assert cancelled.created_by == "nurse_a" and booking.PATIENT_DIED in cancelled.detail


def test_a_death_sent_by_an_ehr_frees_its_bookings_at_the_worker_s_next_pass(
        world, db: Session) -> None:
    from ketaclinic import worker
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients import schemas
    from ketaclinic.patients import service as patients

    site = staffed_site(db)
    starts = weekday_ahead_at(11)
    _, patient = course(db, "iv", starts.date())
    booked = booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=starts,
                          actor=DESK)
    # as the FHIR importer and PUT /fhir/Patient record one: the patients domain alone
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({site.pk}))
    patients.update_demographics(db=db, patient_id=str(patient.id), actor=nurse,
                                 data=schemas.PatientUpdate(deceased=True))
    db.refresh(booked)
    assert booked.status == BOOKED
    assert worker.run_once().cancelled_after_death == 1
    db.refresh(booked)
    assert (booked.status, booked.cancel_reason) == (CANCELLED, booking.PATIENT_DIED)
    assert worker.run_once().cancelled_after_death == 0


def test_no_questionnaire_is_due_for_a_patient_who_has_died_and_the_others_still_get_theirs(
        world, db: Session) -> None:
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.measures import links

    start = weekday_ahead_at(11).date()
    _, dying = course(db, "iv", start)
    second, _ = course(db, "iv", start, patient_key=1)
    dying.deceased = True
    db.flush()
    created = links.send_due(db=db, day=start, actor=Actor(username="cli:test", role="system"))
    assert [link.course_pk for link in created] == [second.pk]



def test_a_link_sent_before_the_death_takes_no_answers_after_it(api, anon, world,
                                                                 db: Session) -> None:
    from sqlalchemy import func

    from ketaclinic.measures.models import Measure

    pid = world.patients["p_a1"]
    made = api["frontdesk"].post(f"/api/v1/patients/{pid}/measure-links",
                                 json={"email": False, "instruments": ["gad7"]})
    assert made.status_code == 201, made.text
    path = "/q/" + made.json()["url"].rsplit("/q/", 1)[1]
    form = anon.get(path)
    assert form.status_code == 200
    assert api["nurse_a"].patch(f"/api/v1/patients/{pid}",
                                json={"deceased": True}).status_code == 200
    gone = anon.get(path)
    assert gone.status_code == 410 and "no longer needed" in gone.text
    answers = {f"gad7.{n}": "0" for n in range(1, 8)}
    refused = anon.post(path, data={**answers, "csrf_token": csrf_of(form.text)})
    assert refused.status_code == 410
    assert db.execute(select(func.count()).select_from(Measure)).scalar_one() == 0


def test_recording_a_death_closes_the_patient_s_portal_account(api, world, db: Session) -> None:
    from ketaclinic.auth.models import User
    from ketaclinic.auth.service import CLOSED_AT_DEATH
    from tests.conftest import PASSWORD

    pid = world.patients["p_a1"]
    portal = api["patient_a1"]
    assert portal.get(f"/api/v1/patients/{pid}").status_code == 200
    assert api["nurse_a"].patch(f"/api/v1/patients/{pid}",
                                json={"deceased": True}).status_code == 200
    assert portal.get(f"/api/v1/patients/{pid}").status_code == 401, "the login it had ended"
    again = portal.post("/api/v1/auth/token", data={"username": "patient_a1",
                                                    "password": PASSWORD})
    assert again.status_code in (400, 401), again.text
    user = db.execute(select(User).where(User.username == "patient_a1")).scalar_one()
    db.refresh(user)
    assert user.active is False
    [closed] = db.execute(select(AuditEvent).where(
        AuditEvent.record_type == "User", AuditEvent.record_id == str(user.id),
        AuditEvent.detail == CLOSED_AT_DEATH)).scalars().all()
    assert closed.created_by == "nurse_a"
    assert api["nurse_a"].get(f"/api/v1/patients/{pid}").status_code == 200, "staff still read"


def test_a_death_sent_by_an_ehr_closes_the_portal_account_at_the_worker_s_next_pass(
        api, world, db: Session) -> None:
    from ketaclinic import worker
    from ketaclinic.auth.models import User
    from ketaclinic.kernel.actor import Actor
    from ketaclinic.patients import schemas
    from ketaclinic.patients import service as patients

    pid = world.patients["p_a1"]
    from ketaclinic.clinics.models import Site

    site = db.execute(select(Site).where(Site.code == "A")).scalar_one()
    nurse = Actor(username="nurse_a", role="nurse", site_pks=frozenset({site.pk}))
    user = db.execute(select(User).where(User.username == "patient_a1")).scalar_one()
    patients.update_demographics(db=db, patient_id=pid, actor=nurse,
                                 data=schemas.PatientUpdate(deceased=True))
    db.refresh(user)
    assert user.active is True
    assert worker.run_once().accounts_closed_after_death == 1
    db.refresh(user)
    assert user.active is False
    assert worker.run_once().accounts_closed_after_death == 0


def test_the_patient_list_shows_a_death_and_the_age_at_death(api, web, world) -> None:
    pid = world.patients["p_a1"]  # born 1980-05-17
    assert api["nurse_a"].patch(f"/api/v1/patients/{pid}",
                                json={"deceased_on": "2026-05-16"}).status_code == 200
    listed = web["nurse_a"].get("/patients", params={"q": "TestP_A1"}).text
    row = listed[listed.index(f'href="/patients/{pid}"'):]
    row = row[:row.index("</tr>")]
    assert '<span class="badge deceased">Deceased 2026-05-16</span>' in row
    assert "<td>45 at death</td>" in row, "the age the day before the 46th birthday"
