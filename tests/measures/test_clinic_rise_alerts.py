"""How far a PHQ-9, QIDS-SR16 or GAD-7 total must rise to raise a review alert is a clinic
default (measures.toml cites KROENKE-2001, RUSH-2003 and SPITZER-2006 for one severity band,
not a guideline's threshold), so a medical director may change it as any rule-set parameter:
the alert, its message and source, and the end-of-induction card's "worsened" follow it.
Before, the 5 points lived in the alert table and no clinic could lower them."""

from datetime import date, timedelta

from ketaclinic.knowledge.outcomes import Point, review
from ketaclinic.knowledge.ruleset import default_ruleset
from tests.measures.test_measures_api import _post
from tests.treatments.test_clinic_pressure_limits import _override, refused_override


def test_a_rise_alerts_at_the_clinic_s_size(api, world) -> None:
    pid = world.patients["p_a2"]
    nurse = api["nurse_a"]
    assert _post(nurse, pid, "phq9", [1, 1, 1, 1, 0, 0, 0, 0, 0]).json()["alerts"] == []
    assert _post(nurse, pid, "phq9", [2, 1, 1, 1, 1, 1, 0, 0, 0]).json()["alerts"] == []  # +3
    _override(api, "alert_phq9_rise_points", 3)
    [alert] = _post(nurse, pid, "phq9", [2, 2, 2, 2, 1, 1, 0, 0, 0]).json()["alerts"]  # +3
    assert (alert["rule"], alert["severity"]) == ("phq9-rise", "review")
    assert alert["message"] == "PHQ-9 rose by 3 or more since the previous measure"
    assert alert["source"].startswith("clinic override of")
    assert "27" in refused_override(api, "alert_phq9_rise_points", 30)["accepted"]


def test_the_end_of_induction_card_calls_worsening_at_the_clinic_s_rise() -> None:
    scores = [Point(date(2026, 1, 5) + timedelta(days=3 * i), t) for i, t in enumerate((12, 14, 15))]
    shipped = review("phq9", scores, default_ruleset())
    assert shipped is not None and shipped.state == "non-responder"
    lowered = review("phq9", scores, default_ruleset().with_overrides({"alert_phq9_rise_points": 3}))
    assert lowered is not None and lowered.state == "worsened"
