"""The chair-side page: every step through its forms, errors shown on the page."""

import html
import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from ketaclinic import clock
from tests.conftest import csrf_of
from tests.treatments.test_ingest import chair_id, signed_evaluation


def test_session_page_steps(api, web, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    evaluation = signed_evaluation(api, pid)
    nurse = web["nurse_a"]
    detail = nurse.get(f"/patients/{pid}/evaluations/{evaluation}")
    assert 'id="check-in-form"' in detail.text
    opened = nurse.post(f"/patients/{pid}/treatment-sessions", data={
        "csrf_token": csrf_of(detail.text), "evaluation_id": evaluation,
        "chair_id": chair_id(db, "A1")}, follow_redirects=False)
    assert opened.status_code == 303
    url = opened.headers["location"]
    page = nurse.get(url)
    csrf = csrf_of(page.text)
    assert "A1" in page.text and 'id="live"' in page.text
    bad = nurse.post(f"{url}/vitals", data={"csrf_token": csrf, "spo2_pct": "130"})
    assert bad.status_code == 422 and "SpO₂ (%): 130 is outside the possible range" in html.unescape(bad.text)
    nurse.post(f"{url}/vitals", data={"csrf_token": csrf, "systolic_mmhg": "126",
                                      "diastolic_mmhg": "80"})
    blocked = nurse.post(f"{url}/dose/start", data={"csrf_token": csrf, "dose_mg": "35",
                                                   "lot_number": "K1", "ordered_by": "prescriber"})
    assert blocked.status_code == 409 and "blocked by check-in" in blocked.text
    api["nurse_a"].post(f"/api/v1/patients/{pid}/consents", json={})
    nurse.post(f"{url}/checks", data={"csrf_token": csrf, "check.identity": "on",
                                      "check.escort": "on", "check.pregnancy-status": "on"})
    assert nurse.post(f"{url}/dose/start", data={"csrf_token": csrf, "dose_mg": "35",
                                                 "lot_number": "K1", "ordered_by": "prescriber"},
                      follow_redirects=False).status_code == 303
    alarm_page = nurse.post(f"{url}/vitals", data={"csrf_token": csrf, "systolic_mmhg": "185",
                                                   "diastolic_mmhg": "96"}, follow_redirects=True)
    assert "Systolic BP 185 is above 180" in alarm_page.text
    alarm_ids = re.findall(r"/alarms/([0-9a-f-]{36})/acknowledge", alarm_page.text)
    assert len(alarm_ids) == 2, "above 180, and a rise of 59 over the baseline"
    for alarm_id in alarm_ids:
        nurse.post(f"{url}/alarms/{alarm_id}/acknowledge",
                   data={"csrf_token": csrf, "note": "rechecked, told prescriber"})
    live = nurse.get(f"{url}/live")
    assert 'id="no-alarms"' in live.text and "rechecked, told prescriber" in live.text
    nurse.post(f"{url}/events", data={"csrf_token": csrf, "kind": "moass", "value": "5"})
    nurse.post(f"{url}/dose/end", data={"csrf_token": csrf})
    refused = nurse.post(f"{url}/discharge", data={"csrf_token": csrf, "escort_present": "on"})
    assert refused.status_code == 422 and "observation remain" in refused.text
    prescriber = web["prescriber"]
    done = prescriber.post(f"{url}/discharge/override", data={
        "csrf_token": csrf_of(prescriber.get(url).text), "escort_present": "on",
        "driving_warning_given": "on", "reason": "left against advice after counselling"},
        follow_redirects=True)
    assert 'id="closed"' in done.text and "left against advice" in done.text
    dashboard = nurse.get("/dashboard")
    assert "No open treatment session" in dashboard.text


@pytest.mark.parametrize("clinic_time", [time(10, 0), time(0, 5)],
                         ids=["mid-morning", "just-after-midnight"])
def test_esketamine_devices_are_recorded_one_by_one(api, web, world, db: Session, clinic_clock,
                                                    clinic_time: time) -> None:
    from tests.treatments.test_rems import ESKETAMINE_CHECKS

    # Device times are typed as clock times; just after midnight, 23:45 means yesterday's.
    zone = ZoneInfo("America/New_York")
    clinic_clock.move_to(datetime.combine(clock.today(zone) + timedelta(days=1), clinic_time,
                                          tzinfo=zone))
    now = clock.now().astimezone(zone)
    pid = world.patients["p_a2"]
    nurse_api = api["nurse_a"]
    evaluation = nurse_api.post(f"/api/v1/patients/{pid}/evaluations",
                                json={"route": "esketamine"}).json()
    api["prescriber"].post(f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign", json={
        "decision": "start", "caution_reasons": {f["rule"]: "reviewed" for f in
                                                 evaluation["findings"]}})
    nurse_api.post(f"/api/v1/patients/{pid}/consents", json={})
    session = nurse_api.post(f"/api/v1/patients/{pid}/treatment-sessions", json={
        "evaluation_id": evaluation["id"], "chair_id": chair_id(db, "A2")}).json()["id"]
    nurse_api.post(f"/api/v1/treatment-sessions/{session}/checks",
                   json={"confirmations": ESKETAMINE_CHECKS})
    nurse_api.post(f"/api/v1/treatment-sessions/{session}/vitals", json={"readings": [
        {"systolic_mmhg": 124, "diastolic_mmhg": 80,
         "taken_at": (now - timedelta(minutes=40)).isoformat()}]})
    url = f"/treatment-sessions/{session}"
    nurse = web["nurse_a"]
    page = nurse.get(url)
    assert "Device 1 used at" in page.text and "Started at" not in page.text
    times = [(now - timedelta(minutes=m)).strftime("%H:%M") for m in (20, 17)]
    base = {"csrf_token": csrf_of(page.text), "dose_mg": "56", "lot_number": "SPX-1",
            "ordered_by": "prescriber"}
    close = nurse.post(f"{url}/dose/start", data={**base, "device_time_1": times[0],
                                                   "device_time_2": times[1]})
    assert close.status_code == 422 and "less than 5 min apart" in html.unescape(close.text)
    ok_times = [(now - timedelta(minutes=m)).strftime("%H:%M") for m in (20, 14)]
    done = nurse.post(f"{url}/dose/start", data={**base, "device_time_1": ok_times[0],
                                                  "device_time_2": ok_times[1]},
                      follow_redirects=False)
    assert done.status_code == 303
    impossible = nurse.post(f"{url}/vitals", data={"csrf_token": base["csrf_token"],
                                                   "systolic_mmhg": "20"})
    assert impossible.status_code == 422
    assert "Systolic pressure (mmHg): 20 is outside the possible range (accepted: 40 to 300 mmHg)" in \
        html.unescape(impossible.text)


def test_check_in_refused_from_an_unsigned_evaluation(api, web, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    unsigned = api["nurse_a"].post(f"/api/v1/patients/{pid}/evaluations",
                                   json={"route": "iv"}).json()["id"]
    nurse = web["nurse_a"]
    page = nurse.get(f"/patients/{pid}/evaluations/{unsigned}")
    refused = nurse.post(f"/patients/{pid}/treatment-sessions", data={
        "csrf_token": csrf_of(page.text), "evaluation_id": unsigned,
        "chair_id": chair_id(db, "A1")})
    assert refused.status_code == 409 and "not signed to start" in refused.text
    assert f'href="/patients/{pid}/evaluations/{unsigned}" id="back"' in refused.text


def _opened_at_the_chair(api, web, world, db: Session) -> tuple[dict[str, Any], str]:
    """A signed course's dose and the page of a session opened for it at chair A1."""
    pid = world.patients["p_a1"]
    evaluation = signed_evaluation(api, pid)
    signed = api["nurse_a"].get(f"/api/v1/patients/{pid}/evaluations/{evaluation}").json()["dose"]
    nurse = web["nurse_a"]
    detail = nurse.get(f"/patients/{pid}/evaluations/{evaluation}")
    return signed, nurse.post(f"/patients/{pid}/treatment-sessions", data={
        "csrf_token": csrf_of(detail.text), "evaluation_id": evaluation,
        "chair_id": chair_id(db, "A1")}, follow_redirects=False).headers["location"]


def test_the_dose_at_the_chair_follows_today_s_weight(api, web, world, db: Session) -> None:
    signed, url = _opened_at_the_chair(api, web, world, db)
    nurse = web["nurse_a"]
    csrf = csrf_of(nurse.get(url).text)
    same = nurse.get(url).text
    assert 'id="dose-weights"' not in same and f'value="{signed["dose_mg"]}"' in same
    heavier = signed["weight_kg"] + 10
    page = nurse.post(f"{url}/weight", data={"csrf_token": csrf, "weight_kg": str(heavier)},
                      follow_redirects=True).text
    today = round(signed["mg_per_kg"] * heavier, 1)
    shown = html.unescape(page[page.index('id="dose-weights"'):][:300])
    assert f"Weighed today: {heavier:g} kg" in shown
    assert f"signed at {signed['weight_kg']:g} kg ({signed['dose_mg']:g} mg)" in shown
    assert f'id="d-mg" name="dose_mg" value="{today}"' in page


def test_a_weight_typed_in_pounds_at_the_chair_is_asked_about_and_not_dosed_from(
        api, web, world, db: Session) -> None:
    """Today's weight entered as the patient's pounds was charted and dosed from: the dose field
    held the doubled dose, and the given dose was checked per kilogram of it. It is refused
    until confirmed; confirmed, the signed dose still stands at the chair."""
    signed, url = _opened_at_the_chair(api, web, world, db)
    nurse = web["nurse_a"]
    pounds = round(signed["weight_kg"] / 0.45359237, 1)
    refused = nurse.post(f"{url}/weight", data={"csrf_token": csrf_of(nurse.get(url).text),
                                                "weight_kg": str(pounds)})
    assert refused.status_code == 422
    told = html.unescape(refused.text)
    assert f"{pounds:g} kg is" in told and "check it was weighed in kilograms" in told
    assert 'id="t-weight-confirmed"' in refused.text
    assert f'id="t-weight" required value="{pounds:g}"' in refused.text, "what was typed is kept"
    page = nurse.post(f"{url}/weight", data={
        "csrf_token": csrf_of(refused.text), "weight_kg": str(pounds),
        "weight_change_confirmed": "true"}, follow_redirects=True).text
    shown = html.unescape(page[page.index('id="dose-problem"'):][:500])
    assert f"Today's weight {pounds:g} kg is" in shown and "signed dose" in shown
    assert f'id="d-mg" name="dose_mg" value="{signed["dose_mg"]}"' in page
