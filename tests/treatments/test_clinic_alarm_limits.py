"""The alarm limits are clinic defaults (protocol-facts §5: no psychiatric guideline sets them), so
a clinic's medical director may change them as any other rule-set parameter, and the chair's
alarms, discharge's "vitals within limits" and the REMS form's respiratory depression follow."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.clinics.models import RuleOverride
from tests.statements import statements_sent
from tests.treatments.test_clinic_pressure_limits import _override
from tests.treatments.test_flow import ago, post
from tests.treatments.test_ingest import open_session
from tests.treatments.test_rems import esketamine_session
from tests.treatments.test_sparse_pressures import _criteria, _dosed_and_observed


def _alarms(api, session: str, reading: dict) -> list[dict]:
    stored = post(api, "nurse_a", session, "vitals", {"readings": [reading]})
    assert stored.status_code == 201, stored.text
    return stored.json()["alarms"]


def test_a_clinic_s_alarm_limits_raise_the_chair_s_alarms(api, world, db: Session) -> None:
    """A clinic that alarms above 170 systolic and below 92 % saturation: its overrides were
    stored and listed, but the chair alarmed on the shipped 180 and 94 %."""
    _override(api, "alarm_systolic_high_mmhg", 170)
    _override(api, "alarm_spo2_low_pct", 92)
    session = open_session(api, db, world.patients["p_a1"])
    [high] = _alarms(api, session, {"systolic_mmhg": 175, "diastolic_mmhg": 90,
                                    "taken_at": ago(3)})
    assert high["kind"] == "systolic-high" and "above 170" in high["message"]
    assert high["source"].startswith("clinic override of")
    assert _alarms(api, session, {"spo2_pct": 93, "taken_at": ago(2)}) == []
    [low] = _alarms(api, session, {"spo2_pct": 91, "taken_at": ago(1)})
    assert low["kind"] == "spo2-low" and "below 92" in low["message"]


def discharge_follows(api, world, db: Session, signs: dict[str, float], criterion: str,
                      parameter: str, value: float) -> None:
    """Discharge, after dosing and the observation, finds `criterion` unmet in a reading of
    these signs (the others ordinary), and met once the clinic sets `parameter` to `value`."""
    session, _ = _dosed_and_observed(api, world, db)
    ordinary = {"systolic_mmhg": 128, "diastolic_mmhg": 80, "heart_rate_bpm": 76, "spo2_pct": 98,
                "respiratory_rate_per_min": 14}
    assert post(api, "nurse_a", session, "vitals", {"readings": [
        {**ordinary, **signs, "taken_at": ago(2)}]}).status_code == 201
    assert criterion in _criteria(api, session)
    _override(api, parameter, value)
    assert criterion not in _criteria(api, session)


def test_discharge_reads_the_clinic_s_alarm_limits(api, world, db: Session) -> None:
    discharge_follows(api, world, db, {"spo2_pct": 93}, "vitals-within-limits",
                      "alarm_spo2_low_pct", 92)


def test_the_rems_form_reads_respiratory_depression_on_the_clinic_s_limit(
        api, world, db: Session) -> None:
    session = esketamine_session(api, world, db)
    url = f"/api/v1/treatment-sessions/{session}"
    assert api["nurse_a"].post(f"{url}/vitals", json={"readings": [
        {"spo2_pct": 93, "taken_at": ago(30)}]}).status_code == 201
    assert api["nurse_a"].get(f"{url}/rems").json()["respiratory_depression"] is True
    _override(api, "alarm_spo2_low_pct", 92)
    assert api["nurse_a"].get(f"{url}/rems").json()["respiratory_depression"] is False


def test_a_batch_reads_the_clinic_s_limits_with_its_session_and_sees_a_change_at_once(
        api, world, db: Session) -> None:
    """A monitor's gateway posts a batch every few seconds all session long: the clinic's rule
    set comes in the statement that finds the session (no round trip of its own), and a change
    of limit holds from the next batch on, as does a return to the default."""
    session = open_session(api, db, world.patients["p_a1"])
    with statements_sent(db.connection()) as statements:
        assert _alarms(api, session, {"spo2_pct": 93, "taken_at": ago(5)})[0]["kind"] == "spo2-low"
    reading_rules = [s for s in statements if "rule_override" in s]
    assert len(reading_rules) == 1 and "treatment_session" in reading_rules[0]
    _override(api, "alarm_heart_rate_high_bpm", 110.5)
    [fast] = _alarms(api, session, {"heart_rate_bpm": 115, "taken_at": ago(4)})
    assert "above 110.5" in fast["message"]
    assert _alarms(api, session, {"systolic_mmhg": 92, "diastolic_mmhg": 60,
                                  "taken_at": ago(3)}) == []
    _override(api, "alarm_systolic_low_mmhg", 95)
    _override(api, "alarm_diastolic_high_mmhg", 100)
    _override(api, "alarm_diastolic_high_mmhg", None)  # back to the shipped 110
    stored = post(api, "nurse_a", session, "vitals", {"readings": [
        {"systolic_mmhg": 92, "diastolic_mmhg": 60, "taken_at": ago(2)},
        {"systolic_mmhg": 150, "diastolic_mmhg": 105, "taken_at": ago(1)}]})
    [low] = stored.json()["alarms"]
    assert low["kind"] == "systolic-low" and "below 95" in low["message"]
    rules = api["nurse_a"].get("/api/v1/rules/parameters").json()
    shown = {p["parameter"]: p["value"] for p in rules}
    assert (shown["alarm_heart_rate_high_bpm"], shown["alarm_systolic_low_mmhg"],
            shown["alarm_diastolic_high_mmhg"]) == (110.5, 95, 110)


@pytest.mark.parametrize(("parameter", "value", "said"), [
    # a slip of the decimal point: every reading would alarm, or none would
    ("alarm_spo2_low_pct", 940, "alarm_spo2_low_pct 940 is outside 50 to 100 (the plausible "
                                "range of SpO2)"),
    ("alarm_spo2_low_pct", 9.4, "outside 50 to 100"),
    # an alarm's low limit above its high one, a caution above the hazard
    ("alarm_heart_rate_low_bpm", 125, "alarm_heart_rate_low_bpm (125) must stay below "
                                      "alarm_heart_rate_high_bpm (120)"),
    ("caution_systolic_mmhg", 185, "caution_systolic_mmhg (185) must stay below "
                                   "hazard_systolic_mmhg (180)"),
    # age under 18 is an absolute contraindication on every route: no clinic value lowers it
    ("min_age_years", 16, "min_age_years 16 is outside 18 to 100 (not below 18"),
])
def test_a_clinic_s_value_outside_its_accepted_range_is_refused_and_nothing_stored(
        api, world, db: Session, parameter: str, value: float, said: str) -> None:
    refused = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": parameter, "value": value, "reason": "medical director protocol"})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["errors"]
    assert problem["field"] == "value" and said in problem["message"], problem
    # the range, or for an order, the other side of the pair and the range
    assert problem["accepted"].startswith(("50 to 100", "40 to 300", "18 to 100",
                                           "below alarm_heart_rate_high_bpm (120), within 20 to 250",
                                           "below hazard_systolic_mmhg (180), within 40 to 300"))
    assert db.execute(select(func.count()).select_from(RuleOverride)).scalar_one() == 0
    assert db.execute(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "rule-override")).scalar_one() == 0


def test_the_order_is_judged_on_the_clinic_s_values_in_force(api, world, db: Session) -> None:
    """The heart-rate alarm's high limit lowered to 100 first: a low limit of 105 is now out of
    order, though below the shipped 120; a low of 95 is in order."""
    _override(api, "alarm_heart_rate_high_bpm", 100)
    refused = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "alarm_heart_rate_low_bpm", "value": 105, "reason": "protocol"})
    assert refused.status_code == 422 and "must stay below alarm_heart_rate_high_bpm (100)" in \
        refused.json()["errors"][0]["message"]
    _override(api, "alarm_heart_rate_low_bpm", 95)
    shown = {p["parameter"]: p for p in api["nurse_a"].get("/api/v1/rules/parameters").json()}
    assert shown["alarm_heart_rate_low_bpm"]["value"] == 95
    assert shown["alarm_spo2_low_pct"]["accepted"] == "50 to 100 (the plausible range of SpO2)"


def test_an_override_of_a_parameter_the_rule_set_no_longer_has_is_left_out(
        api, world, db: Session) -> None:
    """A clinic's row for a parameter a later rule set retired names no number in use: every
    read of the rule set (a batch of readings among them) goes on without it."""
    db.add(RuleOverride(parameter="retired_parameter", value=3, reason="an old protocol",
                        created_by="prescriber"))
    db.flush()
    _override(api, "alarm_spo2_low_pct", 92)
    session = open_session(api, db, world.patients["p_a1"])
    assert _alarms(api, session, {"spo2_pct": 93, "taken_at": ago(2)}) == []
    assert {p["parameter"] for p in api["nurse_a"].get("/api/v1/rules/parameters").json()} \
        >= {"alarm_spo2_low_pct", "min_age_years"}


def test_a_return_to_the_default_that_would_break_the_order_is_refused(
        api, world, db: Session) -> None:
    """The hazard raised to 200 and the caution to 185 keep their order; the hazard's return to
    the shipped 180 would leave the caution above it, and is refused until the caution goes
    back first."""
    _override(api, "hazard_systolic_mmhg", 200)
    _override(api, "caution_systolic_mmhg", 185)
    refused = api["prescriber"].post("/api/v1/rules/overrides", json={
        "parameter": "hazard_systolic_mmhg", "value": None, "reason": "back to the default"})
    assert refused.status_code == 422
    assert "caution_systolic_mmhg (185) must stay below hazard_systolic_mmhg (180)" in \
        refused.json()["errors"][0]["message"]
    _override(api, "caution_systolic_mmhg", None)
    _override(api, "hazard_systolic_mmhg", None)


def test_a_value_stored_outside_its_accepted_range_is_set_aside_and_shown(
        api, web, world, db: Session) -> None:
    """Rows stored before the ranges were checked: a minimum age of 16 (under 18 is an absolute
    contraindication on every route) and a saturation alarm of 9.4 % (a slipped decimal point
    that silenced it) were in force, as was a caution pressure above the hazard. They are set
    aside, the default holds, and the rules say why."""
    for parameter, value in (("min_age_years", 16), ("alarm_spo2_low_pct", 9.4),
                             ("caution_systolic_mmhg", 185)):
        db.add(RuleOverride(parameter=parameter, value=value, reason="an old protocol",
                            created_by="prescriber"))
    db.flush()
    session = open_session(api, db, world.patients["p_a1"])
    assert [a["kind"] for a in _alarms(api, session, {"spo2_pct": 93, "taken_at": ago(2)})] == \
        ["spo2-low"]
    shown = {p["parameter"]: p for p in api["nurse_a"].get("/api/v1/rules/parameters").json()}
    assert (shown["min_age_years"]["value"], shown["min_age_years"]["overridden"]) == (18, False)
    assert shown["min_age_years"]["set_aside"].startswith(
        "the clinic's value 16 is outside 18 to 100 (not below 18")
    assert "9.4 is outside 50 to 100" in shown["alarm_spo2_low_pct"]["set_aside"]
    assert shown["caution_systolic_mmhg"]["value"] == 140
    assert shown["caution_systolic_mmhg"]["set_aside"].startswith(
        "the clinic's value 185 breaks the order: caution_systolic_mmhg (185) must stay below "
        "hazard_systolic_mmhg (180): the default is in force")
    assert shown["alarm_heart_rate_low_bpm"]["set_aside"] is None
    page = web["prescriber"].get("/rules").text
    assert "set aside" in page and "the clinic&#39;s value 16 is outside" in page
