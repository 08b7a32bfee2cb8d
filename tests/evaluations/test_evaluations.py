"""Evaluations of stored patients: screening, signing, dose override, plan, consent, rule overrides."""

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.knowledge.ruleset import default_ruleset
from tests.conftest import csrf_of

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _screen(api, pid: str, route: str = "iv", **extra) -> dict:
    response = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                   json={"route": route, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def test_screening_a_stored_patient(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    body = _screen(api, pid)
    assert body["decision"] == "eligible" and body["status"] == "screened"
    assert body["ruleset_version"] == default_ruleset().version and body["overrides"] == {}
    api["nurse_a"].post(f"/api/v1/patients/{pid}/conditions", json={
        "system": "snomed", "code": "59621000", "display": "Essential hypertension"})
    again = _screen(api, pid, route="esketamine")
    assert again["decision"] == "needs-review"
    assert [f["rule"] for f in again["findings"]] == ["hypertension"]
    assert again["findings"][0]["evidence"][0].startswith("Condition/")
    listed = api["nurse_a"].get(f"/api/v1/patients/{pid}/evaluations").json()
    assert [e["id"] for e in listed] == [again["id"], body["id"]]


def test_entered_in_error_entries_do_not_count(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    made = api["nurse_a"].post(f"/api/v1/patients/{pid}/conditions", json={
        "system": "icd10cm", "code": "I67.1", "display": "Cerebral aneurysm"}).json()
    assert _screen(api, pid)["decision"] == "not-eligible"
    api["nurse_a"].post(f"/api/v1/patients/{pid}/conditions/{made['id']}/entered-in-error",
                        json={"reason": "wrong patient"})
    assert _screen(api, pid)["decision"] == "eligible"


def test_sign_start_needs_a_reason_for_every_caution(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals",
                        json={"systolic_mmhg": 152, "diastolic_mmhg": 88})
    evaluation = _screen(api, pid)
    assert evaluation["decision"] == "needs-review"
    url = f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign"
    refused = api["prescriber"].post(url, json={"decision": "start"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "caution_reasons.blood-pressure-elevated"
    assert api["nurse_a"].post(url, json={"decision": "start"}).status_code == 403
    signed = api["prescriber"].post(url, json={
        "decision": "start", "plan_start": "2026-12-01",
        "caution_reasons": {"blood-pressure-elevated": "white-coat reading; home BP 128/80"}})
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert (body["status"], body["signed_decision"], body["signed_by"]) == (
        "signed", "start", "prescriber")
    assert body["dose"]["dose_mg"] == 35.0 and body["dose"]["weight_kg"] == 70
    assert len(body["plan"]["sessions"]) == 6
    assert api["prescriber"].post(url, json={"decision": "do-not-start",
                                             "note": "changed my mind"}).status_code == 409
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "sign")).scalar_one()
    assert "blood-pressure-elevated" in event.detail


def test_a_contraindication_cannot_be_signed_through(api, world, db: Session) -> None:
    pid = world.patients["p_a2"]
    api["nurse_a"].post(f"/api/v1/patients/{pid}/allergies",
                        json={"system": "rxnorm", "code": "6130", "display": "ketamine"})
    evaluation = _screen(api, pid)
    assert evaluation["decision"] == "not-eligible"
    url = f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign"
    response = api["prescriber"].post(url, json={"decision": "start", "caution_reasons": {
        "ketamine-hypersensitivity": "I accept the risk"}})
    assert response.status_code == 409
    assert "cannot be signed through" in response.json()["detail"]
    stored = db.execute(select(Evaluation).where(Evaluation.id == uuid.UUID(evaluation["id"]))
                        ).scalar_one()
    assert stored.status == "screened"
    stop = api["prescriber"].post(url, json={"decision": "do-not-start",
                                             "note": "ketamine allergy"})
    assert stop.status_code == 200 and stop.json()["signed_decision"] == "do-not-start"


def test_dose_outside_the_range_needs_an_override_reason(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    evaluation = _screen(api, pid)
    url = f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign"
    refused = api["prescriber"].post(url, json={"decision": "start", "mg_per_kg": 0.05})
    assert refused.status_code == 422
    assert refused.json()["errors"][0] == {
        "field": "mg_per_kg", "message": "0.05 mg/kg is outside the allowed range",
        "accepted": "0.1 to 1 mg/kg, or a prescriber's recorded override reason "
                    "(never above 1 mg/kg)"}
    hard = api["prescriber"].post(url, json={
        "decision": "start", "mg_per_kg": 1.5, "dose_override_reason": "partial response"})
    assert hard.status_code == 422 and "hard limit of 1 mg/kg" in hard.text
    allowed = api["prescriber"].post(url, json={
        "decision": "start", "mg_per_kg": 0.05,
        "dose_override_reason": "partial response at 0.1 mg/kg with strong dissociation"})
    assert allowed.status_code == 200
    assert allowed.json()["dose"]["override_reason"].startswith("partial response")
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "sign")).scalar_one()
    assert "dose override: partial response" in event.detail


def test_clinic_override_changes_the_rule_and_is_recorded(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals",
                        json={"systolic_mmhg": 135, "diastolic_mmhg": 85})
    assert _screen(api, pid)["decision"] == "eligible"
    assert api["nurse_a"].post("/api/v1/rules/overrides", json={
        "parameter": "caution_systolic_mmhg", "value": 130, "reason": "x"}).status_code == 403
    bad = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "nonsense", "value": 1, "reason": "medical director protocol"})
    assert bad.status_code == 422 and "bp_window_days" in bad.json()["errors"][0]["accepted"]
    made = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "caution_systolic_mmhg", "value": 130,
        "reason": "medical director protocol 2026-11"})
    assert made.status_code == 201
    row = next(p for p in made.json() if p["parameter"] == "caution_systolic_mmhg")
    assert (row["value"], row["default"], row["overridden"]) == (130, 140, True)
    evaluation = _screen(api, pid)
    assert evaluation["decision"] == "needs-review"
    assert evaluation["overrides"] == {"caution_systolic_mmhg": 130}
    assert evaluation["ruleset_version"].startswith(default_ruleset().version + "+clinic.")
    event = db.execute(select(AuditEvent).where(AuditEvent.action == "rule-override")).scalar_one()
    assert event.created_by == "prescriber" and "130" in event.detail
    api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "caution_systolic_mmhg", "value": None, "reason": "back to the label"})
    assert _screen(api, pid)["decision"] == "eligible"


def test_consent_records_version_and_text_digest(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    made = api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    assert made.status_code == 201
    body = made.json()
    assert body["consent_version"] == "ketaclinic-consent-2026-12" and len(body["text_sha256"]) == 64
    site_a_today = datetime.now(ZoneInfo("America/New_York")).date()
    assert body["given_on"] == site_a_today.isoformat() and body["created_by"] == "nurse_a"
    bad = api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={"consent_version": "v0"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "consent_version"


def test_bad_evaluation_input(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    client = api["nurse_a"]
    assert client.post(f"/api/v1/patients/{pid}/evaluations",
                       json={"route": "rectal"}).status_code == 422
    wrong = client.post(f"/api/v1/patients/{pid}/evaluations",
                        json={"route": "esketamine", "indication": "pain"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0] == {"field": "indication", "accepted": "depression, suicidal",
                                         "message": "'pain' is not treated by esketamine"}
    other_site = client.post(f"/api/v1/patients/{world.patients['p_b1']}/evaluations",
                             json={"route": "iv"})
    assert other_site.status_code == 404


def test_evaluation_pages(web, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    nurse = web["nurse_a"]
    page = nurse.get(f"/patients/{pid}/evaluations")
    assert page.status_code == 200 and "Screen now" in page.text
    created = nurse.post(f"/patients/{pid}/evaluations", data={
        "csrf_token": csrf_of(page.text), "route": "iv", "indication": "depression"},
        follow_redirects=False)
    assert created.status_code == 303
    detail = nurse.get(created.headers["location"])
    assert 'id="decision">eligible' in detail.text and 'id="dose-result"' in detail.text
    assert "Awaiting a prescriber" in detail.text
    calc = nurse.get(created.headers["location"], params={"weight_kg": "80"})
    assert "<strong>40.0 mg</strong>" in calc.text and "60.0 mg/h" in calc.text
    refused = nurse.get(created.headers["location"], params={"mg_per_kg": "5"})
    assert "above the hard limit of 1 mg/kg" in refused.text
    prescriber = web["prescriber"]
    form = prescriber.get(created.headers["location"])
    in_pounds = prescriber.post(f"{created.headers['location']}/sign", data={
        "csrf_token": csrf_of(form.text), "decision": "start", "plan_start": "2026-12-01",
        "weight_kg": "154"})
    assert in_pounds.status_code == 422 and 'id="s-weight-confirmed"' in in_pounds.text
    signed = prescriber.post(f"{created.headers['location']}/sign", data={
        "csrf_token": csrf_of(form.text), "decision": "start", "plan_start": "2026-12-01"},
        follow_redirects=False)
    assert signed.status_code == 303
    assert 'id="signed">Signed <strong>start</strong>' in prescriber.get(
        created.headers["location"]).text


def test_rules_page_shows_sources_and_takes_overrides(web, db: Session) -> None:
    nurse_view = web["nurse_a"].get("/rules")
    assert nurse_view.status_code == 200 and "<em>clinic default</em>" in nurse_view.text
    assert "Change a value" not in nurse_view.text
    prescriber = web["prescriber"]
    page = prescriber.get("/rules")
    bad = prescriber.post("/rules", data={"csrf_token": csrf_of(page.text),
                                          "parameter": "bp_window_days", "value": "-3",
                                          "reason": "x"})
    assert bad.status_code == 422 and "Nothing was saved" in bad.text
    slip = prescriber.post("/rules", data={"csrf_token": csrf_of(page.text),
                                           "parameter": "alarm_spo2_low_pct", "value": "940",
                                           "reason": "medical director: 94 %"})
    assert slip.status_code == 422 and "Nothing was saved" in slip.text
    assert "alarm_spo2_low_pct 940 is outside 50 to 100" in slip.text
    assert "<th>Accepted</th>" in page.text and "18 to 100 (not below 18" in page.text
    done = prescriber.post("/rules", data={"csrf_token": csrf_of(page.text),
                                           "parameter": "bp_window_days", "value": "14",
                                           "reason": "medical director: two weeks"},
                           follow_redirects=False)
    assert done.status_code == 303
    assert "<strong>14</strong> (clinic)" in prescriber.get("/rules").text


def test_the_screening_day_is_the_clinic_s_local_day(api, world, db: Session, clinic_clock) -> None:
    from datetime import UTC, timedelta

    from ketaclinic import clock

    # 03:00 UTC is still the evening before in New York (site A).
    utc_day = clock.now().astimezone(UTC).date() + timedelta(days=1)
    clinic_clock.move_to(datetime.combine(utc_day, time(3), tzinfo=UTC))
    evening_before = (utc_day - timedelta(days=1)).isoformat()
    body = _screen(api, world.patients["p_a1"])
    assert body["screened_on"] == evening_before
    consent = api["nurse_a"].post(f"/api/v1/patients/{world.patients['p_a1']}/consents", json={})
    assert consent.json()["given_on"] == evening_before


def test_the_consent_text_names_the_boxed_warning_risks_and_the_others() -> None:
    from ketaclinic.evaluations.service import consent_text

    version, _, text = consent_text()
    assert version == "ketaclinic-consent-2026-12"
    for risk in ("Sedation", "Dissociation", "Respiratory depression", "Abuse and misuse",
                 "Suicidal thoughts", "bladder (cystitis)", "blood pressure rises", "pregnancy",
                 "breastfeeding", "988"):
        assert risk in text, risk
    assert consent_text("ketaclinic-consent-2026-11")[0] == "ketaclinic-consent-2026-11"



def test_the_latest_weight_is_dated_on_the_site_s_clock(api, web, world, clinic_clock) -> None:
    """Weighed at 21:30 in New York, the small hours of the next day in UTC: the evaluation
    page dates the weight the day it was taken there."""
    from datetime import timedelta

    from ketaclinic import clock

    pid = world.patients["p_a1"]
    new_york = ZoneInfo("America/New_York")
    day = clock.today(new_york) + timedelta(days=1)  # after the fixture's weight, whatever the hour
    clinic_clock.move_to(datetime.combine(day, time(23), tzinfo=new_york))
    evening = datetime.combine(day, time(21, 30), tzinfo=new_york)
    weighed = api["nurse_a"].post(f"/api/v1/patients/{pid}/vitals", json={
        "weight_kg": 71.5, "measured_at": evening.isoformat()})
    assert weighed.status_code == 201, weighed.text
    evaluation = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations", json={"route": "iv"})
    assert evaluation.status_code == 201, evaluation.text
    page = web["nurse_a"].get(f"/patients/{pid}/evaluations/{evaluation.json()['id']}")
    assert page.status_code == 200, page.text
    section = page.text.split('id="dose-calculator"', 1)[1].split("</section>", 1)[0]
    assert f"Latest weight 71.5 kg on {day.isoformat()}." in section, section


def test_a_weight_typed_for_the_dose_far_from_the_charted_one_is_asked_about(api, world) -> None:
    """A prescriber typing the patient's pounds (154) as the weight for the dose signed 77 mg for
    a 70 kg patient: every limit is per kilogram, so it passed. It is refused until confirmed."""
    pid = world.patients["p_a1"]
    evaluation = _screen(api, pid)
    assert evaluation["decision"] == "eligible"
    url = f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign"
    refused = api["prescriber"].post(url, json={"decision": "start", "weight_kg": 154})
    assert refused.status_code == 422
    [problem] = refused.json()["errors"]
    assert problem["field"] == "weight_kg"
    assert "154 kg is 120 % above the latest weight charted, 70 kg" in problem["message"]
    signed = api["prescriber"].post(url, json={"decision": "start", "weight_kg": 154,
                                               "weight_change_confirmed": True})
    assert signed.status_code == 200, signed.text
    assert signed.json()["dose"]["weight_kg"] == 154


def test_a_ketamine_intolerance_is_reviewed_not_a_contraindication(api, web, world,
                                                                  db: Session) -> None:
    """An intolerance to ketamine (not immune-mediated: a bad dream, nausea) was read as the
    labels' hypersensitivity, a contraindication no prescriber can sign through. Stored with its
    type it is a caution; of high criticality, or of no stated type, it still blocks."""
    pid = world.patients["p_a1"]
    nurse = web["nurse_a"]
    csrf = csrf_of(nurse.get(f"/patients/{pid}").text)
    saved = nurse.post(f"/patients/{pid}/entries/allergies", data={
        "csrf_token": csrf, "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "code": "6130", "display": "ketamine", "reaction": "vivid dreams",
        "kind": "intolerance", "criticality": "low"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert "<td>intolerance</td>" in nurse.get(f"/patients/{pid}").text
    reviewed = _screen(api, pid)
    assert reviewed["decision"] == "needs-review"
    assert [f["rule"] for f in reviewed["findings"]] == ["ketamine-intolerance"]
    high = api["nurse_a"].post(f"/api/v1/patients/{pid}/allergies", json={
        "system": "rxnorm", "code": "6130", "display": "ketamine", "kind": "intolerance",
        "criticality": "high"})
    assert high.status_code == 201, high.text
    assert high.json()["kind"] == "intolerance"
    assert _screen(api, pid)["decision"] == "not-eligible"
    bad = api["nurse_a"].post(f"/api/v1/patients/{pid}/allergies", json={
        "system": "rxnorm", "code": "6130", "display": "ketamine", "kind": "side effect"})
    assert bad.status_code == 422 and "kind" in bad.text
