"""The public decision aid through its pages: no login, nothing stored but an enquiry sent on
purpose, every claim sourced, the staff inbox kept to staff."""

import html

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.audit.models import AuditEvent
from ketaclinic.decision.models import Enquiry
from ketaclinic.knowledge import decision_aid
from ketaclinic.knowledge.ruleset import default_ruleset
from tests.conftest import csrf_of


def test_every_comparison_cell_and_preparation_item_has_a_source() -> None:
    for option in decision_aid.options():
        for attribute in decision_aid.ATTRIBUTES:
            assert option[attribute]["text"] and option[attribute]["source"], (option, attribute)
    for row in decision_aid.routes(default_ruleset()):
        assert all(row[k]["text"] and row[k]["source"]
                   for k in ("bioavailability", "observation", "schedule"))
    for route in ("iv", "esketamine", "im"):
        assert all(item["text"] and item["source"]
                   for item in decision_aid.preparation(route, default_ruleset()))


def test_self_check_results_and_an_enquiry(anon, web, db: Session) -> None:
    form = anon.get("/check")
    assert form.status_code == 200 and "does not replace a clinician" in form.text
    csrf = csrf_of(form.text)
    audit_before = db.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    unsafe = anon.post("/check", data={"csrf_token": csrf, "route": "iv", "age": "52",
                                       "conditions": "aneurysm"})
    assert unsafe.status_code == 200 and "probably not safe" in unsafe.text
    assert "An aneurysm" in unsafe.text and "source:" in unsafe.text
    review = anon.post("/check", data={"csrf_token": csrf, "route": "iv", "age": "40",
                                       "concern": "depression", "tried": "antidepressants",
                                       "medicine_1": "diazepam", "medicine_1_mg": "20",
                                       "systolic_mmhg": "120", "diastolic_mmhg": "80"})
    assert "need a doctor" in html.unescape(review.text) and "benzodiazepine" in review.text
    assert "help with depression, having tried antidepressant medicines" in review.text
    risk = anon.post("/check", data={"csrf_token": csrf, "route": "iv", "age": "40",
                                     "suicidal_thoughts": "yes"})
    assert 'id="crisis"' in risk.text and "Test crisis line" in risk.text
    bad = anon.post("/check", data={"csrf_token": csrf, "route": "iv", "age": "abc"})
    assert bad.status_code == 422 and "Age: &#39;abc&#39; is not a number" in bad.text
    unknown = anon.post("/check", data={"csrf_token": csrf, "age": "40", "medicine_1": "Sertraline"})
    assert unknown.status_code == 200 and "You take Sertraline: it is not on our list" in unknown.text
    # Someone at risk whose form has a mistake still sees where to get help first.
    both = anon.post("/check", data={"csrf_token": csrf, "age": "abc", "suicidal_thoughts": "yes"})
    assert both.status_code == 422
    assert both.text.index('id="crisis"') < both.text.index('id="check-errors"')
    # Sources are named, not given as file names or keys.
    assert "SPRAVATO prescribing information" in review.text or "Andrashko" in review.text
    assert "protocol-facts.md" not in review.text and "screening_rules" not in review.text
    # Nothing a visitor typed was stored (no rows, no audit events).
    assert db.execute(select(func.count()).select_from(Enquiry)).scalar_one() == 0
    assert db.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == audit_before
    nameless = anon.post("/check/enquiry", data={"csrf_token": csrf, "name": "",
                                                 "contact": "x@example.org", "message": "Hi?"})
    assert nameless.status_code == 422 and "name: please give your name" in nameless.text
    assert ">Hi?</textarea>" in nameless.text  # the form comes back as typed
    assert db.execute(select(func.count()).select_from(Enquiry)).scalar_one() == 0
    sent = anon.post("/check/enquiry", data={
        "csrf_token": csrf, "name": "Alex Visitor", "contact": "alex@example.org",
        "message": "Can I keep my sertraline?", "outcome": "eligible", "include_result": "yes"})
    assert sent.status_code == 200 and 'id="enquiry-sent"' in sent.text
    inbox = web["frontdesk"].get("/enquiries")
    assert inbox.status_code == 200 and "Can I keep my sertraline?" in inbox.text
    assert web["nurse_a"].get("/enquiries").status_code == 403
    compare = anon.get("/check/compare")
    assert compare.status_code == 200 and compare.text.count('class="source') >= 35
    assert anon.get("/check/prepare", params={"route": "esketamine"}).status_code == 200
    assert "Do not eat for 2 hours" in anon.get("/check/prepare?route=esketamine").text
    assert anon.get("/check/prepare", params={"route": "x"}).status_code == 422


def test_the_self_check_runs_the_clinic_s_rules_with_its_overrides(anon, api) -> None:
    """The self-check says it runs the clinic's screening rules, but ran the shipped ones: a
    clinic whose protocol cautions above 130 systolic, or treats patients from 21 only, told a
    visitor at 135/85, or aged 19, that nothing ruled them out, though its clinicians would
    screen them needs-review or not eligible."""
    csrf = csrf_of(anon.get("/check").text)

    def outcome(**answers: str) -> str:
        shown = html.unescape(anon.post("/check", data={"csrf_token": csrf, "route": "iv",
                                                        **answers}).text)
        return next(title for title in ("Worth discussing with a clinician",
                                        "Some things need a doctor's review first",
                                        "Ketamine therapy is probably not safe for you")
                    if title in shown)

    pressure = {"age": "40", "systolic_mmhg": "135", "diastolic_mmhg": "85"}
    assert outcome(**pressure) == "Worth discussing with a clinician"
    assert outcome(age="19") == "Worth discussing with a clinician"
    for parameter, value in (("caution_systolic_mmhg", 130), ("min_age_years", 21)):
        made = api["prescriber"].post("/api/v1/rules/overrides", json={
            "parameter": parameter, "value": value, "reason": "medical director protocol"})
        assert made.status_code == 201, made.text
    assert outcome(**pressure) == "Some things need a doctor's review first"
    assert outcome(age="19") == "Ketamine therapy is probably not safe for you"


def test_the_preparation_tells_a_visitor_the_clinic_s_observation(anon, api) -> None:
    """"Plan to stay at least an hour after it ends" was written into the preparation text, so a
    clinic observing 90 minutes after an infusion told visitors to arrange their ride home for
    an hour after it."""
    def prepare(route: str) -> str:
        return html.unescape(anon.get("/check/prepare", params={"route": route}).text)

    assert "plan to stay at least an hour after it ends" in prepare("iv")
    assert "stay at least 2 hours afterwards" in prepare("esketamine")
    for parameter, value in (("observation_iv_min", 90), ("observation_esketamine_min", 180)):
        made = api["prescriber"].post("/api/v1/rules/overrides", json={
            "parameter": parameter, "value": value, "reason": "medical director protocol"})
        assert made.status_code == 201, made.text
    assert "plan to stay at least 90 minutes after it ends" in prepare("iv")
    assert "stay at least 3 hours afterwards" in prepare("esketamine")
    # the label's 2 hours are no longer the whole source of a stay the clinic made 3
    assert "the clinic's own policy" in prepare("esketamine")
    csrf = csrf_of(anon.get("/check").text)
    result = html.unescape(anon.post("/check", data={"csrf_token": csrf, "route": "iv",
                                                     "age": "40"}).text)
    assert "plan to stay at least 90 minutes after it ends" in result
