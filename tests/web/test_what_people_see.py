"""What a person reads is right: impossible readings refused everywhere, contact details checked
and kept in one form, messages that name fields by their labels with no library internals, times
in the site's zone with the zone named, and the small wording slips of the pages."""

import html
import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.patients.models import Patient, VitalSigns
from tests.conftest import csrf_of
from tests.course_rows import signed_course

NEW = {"family_name": "Okafor", "given_name": "Chidi", "birth_date": "1984-02-03", "sex": "male",
       "site": "A"}
INTERNALS = re.compile(r"function-after|literal\[|constrained-str|Value error,|pydantic|"
                       r"Traceback|\bloc\b")


def _count(db: Session, model: type) -> int:
    return db.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_diastolic_at_or_above_the_systolic_is_refused_everywhere(api, web, world,
                                                                    db: Session) -> None:
    pid = world.patients["p_a1"]
    before = _count(db, VitalSigns)
    refused = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals",
                                  json={"systolic_mmhg": 80, "diastolic_mmhg": 120})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["diastolic_mmhg"]
    assert "not below the systolic" in refused.json()["detail"]
    page = web["nurse_a"]
    csrf = csrf_of(page.get(f"/patients/{pid}").text)
    shown = page.post(f"/patients/{pid}/entries/vitals", data={
        "csrf_token": csrf, "systolic_mmhg": "80", "diastolic_mmhg": "120"})
    assert shown.status_code == 422
    assert "Diastolic pressure (mmHg): 120 is not below the systolic 80" in html.unescape(shown.text)
    observation = {"resourceType": "Observation", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                   "subject": {"reference": f"Patient/{pid}"},
                   "effectiveDateTime": (clock.now() - timedelta(hours=1)).isoformat(),
                   "component": [
                       {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                        "valueQuantity": {"value": 80, "unit": "mmHg"}},
                       {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                        "valueQuantity": {"value": 120, "unit": "mmHg"}}]}
    assert api["nurse_a"].post("/fhir/Observation", json=observation).status_code == 422
    assert _count(db, VitalSigns) == before
    fine = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals",
                               json={"systolic_mmhg": 120, "diastolic_mmhg": 80})
    assert fine.status_code == 201


def test_registration_has_no_default_sex_and_checks_phone_and_email(api, web, db: Session
                                                                    ) -> None:
    desk = web["frontdesk"]
    form_page = desk.get("/patients/new").text
    assert re.search(r'<option value=""\s+selected>', form_page)
    assert not re.search(r'<option value="female"\s+selected', form_page)
    before = _count(db, Patient)
    no_sex = {k: v for k, v in NEW.items() if k != "sex"}
    shown = desk.post("/patients/new", data={**no_sex, "csrf_token": csrf_of(form_page)})
    assert shown.status_code == 422 and "Sex:" in html.unescape(shown.text)
    assert _count(db, Patient) == before
    everything_wrong = api["frontdesk"].post("/api/v1/patients", json={
        **no_sex, "phone": "call me maybe", "email": "chidi@", "emergency_contact_phone": "12"})
    assert everything_wrong.status_code == 422
    problem = everything_wrong.json()
    assert {e["field"] for e in problem["errors"]} == {"sex", "phone", "email",
                                                       "emergency_contact_phone"}
    assert not INTERNALS.search(everything_wrong.text), everything_wrong.text
    assert "Email: 'chidi@' is not an email address" in problem["detail"]
    assert "Phone: 'call me maybe' is not a phone number" in problem["detail"]
    made = api["frontdesk"].post("/api/v1/patients", json={
        **NEW, "phone": "(617) 555-0142", "email": " Chidi@Example.ORG ",
        "emergency_contact_phone": "+44 20 7946 0958"})
    assert made.status_code == 201, made.text
    assert made.json()["phone"] == "+16175550142"
    assert made.json()["emergency_contact_phone"] == "+442079460958"
    assert made.json()["email"] == "Chidi@example.org"


def test_the_api_lists_every_problem_at_once(api) -> None:
    refused = api["frontdesk"].post("/api/v1/patients", json={
        **NEW, "birth_date": "2999-01-01", "site": "B"})  # the front desk works at A only
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["birth_date", "site"]


def test_an_unknown_field_is_named_with_the_fields_accepted_there(api, db, world) -> None:
    before = _count(db, Patient)
    refused = api["frontdesk"].post("/api/v1/patients", json={**NEW, "nickname": "Chi"})
    assert refused.status_code == 422 and _count(db, Patient) == before
    [error] = refused.json()["errors"]
    assert error["field"] == "nickname" and error["message"] == "is not a field of this input"
    assert error["accepted"].startswith("one of family_name, given_name, birth_date, sex")
    patient = world.patients["p_a1"]
    vitals = _count(db, VitalSigns)
    mistyped = api["nurse_a"].post(f"/api/v1/patients/{patient}/vitals",
                                   json={"heart_rate_bpm": 70, "heart_rate": 71})
    assert mistyped.status_code == 422 and _count(db, VitalSigns) == vitals
    [error] = mistyped.json()["errors"]
    assert error["field"] == "heart_rate" and "heart_rate_bpm" in error["accepted"]


def test_a_nested_unknown_field_is_named_with_the_fields_of_its_place() -> None:
    from ketaclinic.field_problems import with_known_fields
    from ketaclinic.treatments.schemas import ReadingsIn

    [error] = with_known_fields([{"type": "extra_forbidden", "loc": ("body", "readings", 2, "bp"),
                                  "msg": "Extra inputs are not permitted"}], ReadingsIn)
    assert error["ctx"]["expected"] == (
        "one of taken_at, systolic_mmhg, diastolic_mmhg, heart_rate_bpm, "
        "respiratory_rate_per_min, spo2_pct, temperature_c")


def test_messages_name_fields_by_their_labels(web, world) -> None:
    desk = web["frontdesk"]
    csrf = csrf_of(desk.get("/patients/new").text)
    shown = html.unescape(desk.post("/patients/new", data={
        **NEW, "given_name": "", "email": "not-an-address", "csrf_token": csrf}).text)
    assert "Given name:" in shown and "Email:" in shown
    assert "given_name:" not in shown and not INTERNALS.search(shown)
    public = web["frontdesk"]
    check = public.post("/check", data={"csrf_token": csrf_of(public.get("/check").text),
                                        "route": "iv", "age": "40", "medicine_2": "sertraline",
                                        "medicine_2_mg": "-5"})
    errors = html.unescape(check.text).split('id="check-errors"')[1].split("</div>")[0]
    assert check.status_code == 422 and "Medicine 2 (mg):" in errors
    assert "medicine_2" not in errors


def test_times_are_shown_in_the_site_s_zone_with_the_zone_named(web, api, world,
                                                                  db: Session) -> None:
    pid = world.patients["p_a1"]
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                     json={"route": "iv"}).json()
    api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign",
                           json={"decision": "start"})
    page = web["prescriber"].get(f"/patients/{pid}/evaluations/{evaluation['id']}").text
    signed = re.search(r'id="signed">(.*?)</p>', page, re.S)
    assert signed and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T", signed.group(1)), page
    assert "UTC" not in signed.group(1)


def test_the_evidence_of_a_finding_says_what_the_record_is(web, api, world) -> None:
    pid = world.patients["p_a1"]
    api["nurse_a"].post(f"/api/v1/patients/{pid}/conditions", json={
        "system": "snomed", "code": "38341003", "display": "Hypertensive disorder"})
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                     json={"route": "iv"}).json()
    page = html.unescape(web["nurse_a"].get(
        f"/patients/{pid}/evaluations/{evaluation['id']}").text)
    evidence = re.findall(r'<ul class="evidence">(.*?)</ul>', page, re.S)
    assert evidence and any("condition: Hypertensive disorder" in e for e in evidence)
    shown = [re.sub(r'title="[^"]*"', "", e) for e in evidence]
    assert not any(re.search(r"Condition/[0-9a-f-]{36}", e) for e in shown)


def test_the_icon_is_served(anon) -> None:
    icon = anon.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon"' in anon.get("/login").text


def test_the_portal_shows_no_codes_to_the_patient(web, world) -> None:
    mine = web["patient_a1"].get("/me").text
    assert "MDD recurrent severe" in mine and "36474008" not in mine
    chart = web["nurse_a"].get(f"/patients/{world.patients['p_a1']}").text
    assert "36474008" in chart  # staff still see the code they coded


def test_course_progress_counts_maintenance_past_the_induction() -> None:
    from ketaclinic.measures.trajectory import CourseView

    def view(given: int) -> str:
        fields = {name: None for name in CourseView.__dataclass_fields__}
        built = CourseView(**{**fields, "session_days": [clock.now().date()] * given,
                              "induction_count": 6, "points": []})
        return built.progress

    assert view(4) == "4 of 6 induction sessions given"
    assert view(6) == "6 of 6 induction sessions given"
    assert view(7) == "6 induction and 1 maintenance session given"
    assert view(11) == "6 induction and 5 maintenance sessions given"


def test_the_vitals_chart_reads_in_clock_times_for_readings_minutes_apart() -> None:
    from ketaclinic.patients.chart import vitals_svg
    from ketaclinic.patients.trend import Trend, buckets

    start = clock.now().replace(microsecond=0)
    for gap_s in (0, 1, 20):
        moments = [start + timedelta(seconds=gap_s * i) for i in range(5)]
        svg = vitals_svg(Trend({"systolic_mmhg": buckets([(m, 120.0 + i) for i, m in
                                                          enumerate(moments)]),
                                "heart_rate_bpm": buckets([(m, 70.0) for m in moments])}),
                         "America/New_York")
        ticks = re.findall(r'class="x-tick"[^>]*>([^<]*)<', svg)
        assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), (gap_s, ticks)
        assert all(re.fullmatch(r"\d\d:\d\d", t) for t in ticks), ticks


def test_the_progress_page_draws_a_course_s_instrument_once(api, web, world, db: Session
                                                           ) -> None:

    pid = world.patients["p_a2"]
    patient = db.execute(select(Patient).where(Patient.id == __import__("uuid").UUID(pid))
                         ).scalar_one()
    start = clock.now().date() - timedelta(days=10)
    signed_course(db, patient.pk, "iv", start=start, screened_on=start,
                  signed_at=clock.now() - timedelta(days=10))
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                        json={"instrument": "phq9", "answers": [2] * 9})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures",
                        json={"instrument": "gad7", "answers": [1] * 7})
    page = web["nurse_a"].get(f"/patients/{pid}/measures").text
    assert page.count('aria-label="PHQ-9 trajectory"') == 1
    assert 'id="chart-gad7"' in page


def test_today_s_weight_is_typed_at_the_chair(api, web, world, db: Session) -> None:
    from tests.treatments.test_ingest import open_session

    pid = world.patients["p_a2"]
    session_id = open_session(api, db, pid)
    nurse = web["nurse_a"]
    page = nurse.get(f"/treatment-sessions/{session_id}").text
    assert 'id="weight-form"' in page and "Today's weight (kg)" in page
    csrf = csrf_of(page)
    before = _count(db, VitalSigns)
    wrong = nurse.post(f"/treatment-sessions/{session_id}/weight",
                       data={"csrf_token": csrf, "weight_kg": "700"})
    assert wrong.status_code == 422 and "Weight (kg): 700 is outside" in html.unescape(wrong.text)
    assert _count(db, VitalSigns) == before
    saved = nurse.post(f"/treatment-sessions/{session_id}/weight",
                       data={"csrf_token": csrf, "weight_kg": "71.5"}, follow_redirects=False)
    assert saved.status_code == 303 and _count(db, VitalSigns) == before + 1
    nurse.post(f"/treatment-sessions/{session_id}/checks", data={"csrf_token": csrf})
    checked = nurse.get(f"/treatment-sessions/{session_id}").text
    assert re.search(r'id="check-current-weight"[^>]*>.*?weight recorded today', checked, re.S)


SHOWN_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?(?!\d)")
ZONE_LABEL = re.compile(r"^\s*\(?([A-Z]{2,5}|[+-]\d\d(:?\d\d)?)\b")


def _unlabelled_moments(page: str) -> list[str]:
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<svg.*?</svg>|<[^>]+>", " ", page,
                  flags=re.S)
    text = html.unescape(text)
    return [m.group(0) for m in SHOWN_MOMENT.finditer(text)
            if not ZONE_LABEL.match(text[m.end():m.end() + 8])]


def test_every_page_names_the_zone_of_the_times_it_shows(api, web, world, db: Session) -> None:
    from tests.treatments.test_ingest import open_session

    pid = world.patients["p_a1"]
    session_id = open_session(api, db, pid)
    api["nurse_a"].post(f"/api/v1/treatment-sessions/{session_id}/vitals",
                        json={"readings": [{"systolic_mmhg": 124, "diastolic_mmhg": 80}]})
    api["nurse_a"].post(f"/api/v1/patients/{pid}/measures", json={
        "instrument": "phq9", "answers": [3, 3, 3, 3, 3, 3, 3, 3, 2]})  # raises an alert
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                     json={"route": "iv"}).json()
    api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign",
                           json={"decision": "start"})
    pages = {"prescriber": ["/dashboard", f"/patients/{pid}", f"/patients/{pid}/measures",
                            f"/patients/{pid}/evaluations/{evaluation['id']}", "/alerts",
                            f"/treatment-sessions/{session_id}", "/inventory", "/enquiries",
                            "/outcomes"],
             "admin": ["/admin/users", "/dashboard"], "patient_a1": ["/me"]}
    unlabelled = {}
    for user, paths in pages.items():
        for path in paths:
            response = web[user].get(path)
            assert response.status_code == 200, (user, path, response.status_code)
            found = _unlabelled_moments(response.text)
            if found:
                unlabelled[path] = found
    assert unlabelled == {}


def test_the_scan_for_library_internals_knows_what_they_look_like() -> None:
    from tests.conftest import shows_library_internals

    assert shows_library_internals("email.function-after[_validate(), constrained-str]")
    assert shows_library_internals("email.literal['']")
    assert shows_library_internals("Value error, contains control characters")
    assert not shows_library_internals("Email: 'x@' is not an email address")
    # What the user typed is theirs, even when it looks like a library's words.
    assert not shows_library_internals("Status: 'Assertion failed, ' (accepted: pending, sent)")
    assert _unlabelled_moments("<p>2026-11-30 09:15</p>") == ["2026-11-30 09:15"]
    assert _unlabelled_moments("<p>2026-11-30 09:15 EST</p><input value='2026-11-30 09:15'>") == []


def test_vital_sign_headings_read_as_people_write_them() -> None:
    from ketaclinic.knowledge.vital_limits import plausible_ranges

    headings = {name: r.heading for name, r in plausible_ranges().items()}
    assert headings["spo2_pct"] == "SpO2 (%)"
    assert headings["temperature_c"] == "Body temperature (°C)"
    assert not any("Cel" in h or "Spo2" in h for h in headings.values())
