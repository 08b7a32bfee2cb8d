"""Dosing on the clinic's rule set. The ceiling of an IV dose without a recorded reason (1.0
mg/kg for depression and PTSD, 1 mg/kg/h for pain at the chair) and how far a weight may move
before it is questioned (20 %) are clinic defaults (protocol-facts §3), so a medical director
may change them as any rule-set parameter, between the standard dose and the hard limit that no
override passes. Before, they lived in the dosing table: a clinic whose protocol doses at most
0.75 mg/kg without a reason had 0.9 mg/kg signed and given with none."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import RuleOverride
from ketaclinic.evaluations.models import Evaluation
from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.ruleset import default_ruleset
from tests.evaluations.test_evaluations import _screen
from tests.treatments.test_clinic_pressure_limits import _override, refused_override
from tests.treatments.test_sparse_pressures import _dosed_and_observed


def test_a_dose_above_the_clinic_s_ceiling_needs_a_reason(api, world, db: Session) -> None:
    pid = world.patients["p_a1"]
    evaluation = _screen(api, pid)
    url = f"/api/v1/patients/{pid}/evaluations/{evaluation['id']}/sign"
    _override(api, "iv_dose_max_mg_per_kg", 0.75)
    refused = api["prescriber"].post(url, json={"decision": "start", "mg_per_kg": 0.9})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["errors"]
    assert problem["field"] == "mg_per_kg"
    assert problem["accepted"].startswith("0.1 to 0.75 mg/kg (ceiling: clinic override of")
    assert "never above 1 mg/kg" in problem["accepted"]
    stored = db.execute(select(Evaluation).where(
        Evaluation.id == uuid.UUID(evaluation["id"]))).scalar_one()
    assert stored.status == "screened"
    signed = api["prescriber"].post(url, json={
        "decision": "start", "mg_per_kg": 0.9,
        "dose_override_reason": "partial response at 0.75 mg/kg"})
    assert signed.status_code == 200, signed.text
    judged_on = signed.json()["dose"]["ruleset_version"]
    assert judged_on.startswith(default_ruleset().version + "+clinic.")  # the dose names its rules
    assert api["prescriber"].post(url.replace(evaluation["id"], _screen(api, pid)["id"]), json={
        "decision": "start", "mg_per_kg": 0.7}).status_code == 200


def test_the_chair_checks_a_given_dose_and_a_pain_rate_against_the_clinic_s_ceiling() -> None:
    lowered = default_ruleset().with_overrides({"iv_dose_max_mg_per_kg": 0.75,
                                                "iv_pain_rate_max_mg_per_kg_per_h": 0.5})
    assert dosing.check_given(route="iv", dose_mg=72, weight_kg=80,
                              ruleset=default_ruleset()).mg_per_kg == 0.9
    for route_dose in ({"indication": "depression", "dose_mg": 72},
                       {"indication": "ptsd", "dose_mg": 72},
                       {"indication": "pain", "dose_mg": 200}):  # 0.625 mg/kg/h over 4 h
        try:
            dosing.check_given(route="iv", weight_kg=80, ruleset=lowered, **route_dose)
        except dosing.DoseRefused as refused:
            assert refused.field == "dose_mg" and "clinic override of" in refused.accepted
        else:
            raise AssertionError(f"{route_dose} passed the clinic's ceiling")
        given = dosing.check_given(route="iv", weight_kg=80, ruleset=lowered,
                                   override_reason="tolerated 0.75 with no response", **route_dose)
        assert given.dose_mg == route_dose["dose_mg"]
    assert dosing.calculate(route="iv", weight_kg=80, indication="pain", ruleset=lowered,
                            mg_per_kg=0.5).dose_mg == 160
    assert dosing.check_given(route="iv", dose_mg=40, weight_kg=80, ruleset=lowered
                              ).ruleset_version == lowered.version


def test_a_dose_given_records_the_rules_it_was_checked_on(api, world, db: Session) -> None:
    _, row = _dosed_and_observed(api, world, db)
    assert row.dose_given is not None
    assert row.dose_given.ruleset_version == default_ruleset().version


def test_the_clinic_sets_how_far_a_weight_may_move_before_it_is_questioned(api, world) -> None:
    assert dosing.weight_change_problem(80, 92, "the last weight", default_ruleset()) is None
    stricter = default_ruleset().with_overrides({"weight_recheck_above_pct": 10})
    problem = dosing.weight_change_problem(80, 92, "the last weight", stricter)
    assert problem is not None and "more than 10 %; clinic override of" in problem
    vitals = f"/api/v1/patients/{world.patients['p_a1']}/vitals"
    assert api["nurse_a"].post(vitals, json={"weight_kg": 80}).status_code == 201
    _override(api, "weight_recheck_above_pct", 10)
    refused = api["nurse_a"].post(vitals, json={"weight_kg": 92})
    assert refused.status_code == 422, refused.text
    assert "more than 10 %; clinic override of" in refused.json()["errors"][0]["message"]


def test_no_ceiling_above_the_hard_limit_or_below_the_standard_dose(api, db: Session) -> None:
    for parameter, value, accepted in (
            ("iv_dose_max_mg_per_kg", 1.2, "not above the hard limit of 1 mg/kg"),
            ("iv_dose_max_mg_per_kg", 0.4, "not below the standard dose of 0.5 mg/kg"),
            ("iv_pain_rate_max_mg_per_kg_per_h", 1.5, "not above the hard limit of 1 mg/kg/h"),
            ("weight_recheck_above_pct", 60, "pounds beside kilograms")):
        assert accepted in refused_override(api, parameter, value)["accepted"]
    assert db.execute(select(func.count()).select_from(RuleOverride)).scalar_one() == 0
