"""Public pages, no login: "Is ketamine therapy right for me?" self-check (nothing stored),
the comparison of options, preparation guidance and a cost estimate; an enquiry to the clinic
only when the visitor sends one; the staff inbox of enquiries."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.billing.superbill import money
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.decision import service as decision
from ketaclinic.errors import FieldProblem, InvalidInput
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.knowledge import crisis, decision_aid, dosing, self_check
from ketaclinic.knowledge.courses import plan
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)
MEDICINE_ROWS = 3


def _number(form: Any, field: str, low: float, high: float, *, required: bool = False
            ) -> float | None:
    text = str(form.get(field, "")).strip()
    if not text:
        if required:
            raise InvalidInput([FieldProblem(field, "is required", f"{low:g} to {high:g}")])
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput([FieldProblem(field, f"{text!r} is not a number",
                                         f"{low:g} to {high:g}")]) from None
    if not low <= value <= high:
        raise InvalidInput([FieldProblem(field, f"{value:g} is out of range", f"{low:g} to {high:g}")])
    return value


def _plausible(form: Any, field: str) -> float | None:
    """A measurement within the clinic's plausibility range (vital_limits.toml)."""
    limits = plausible_ranges()[field]
    return _number(form, field, limits.min, limits.max)


def answers_from(form: Any) -> self_check.Answers:
    """The form's answers, or InvalidInput naming the field and what it accepts."""
    route = str(form.get("route", "iv"))
    if route not in ("iv", "esketamine"):
        raise InvalidInput([FieldProblem("route", repr(route), "iv, esketamine")])
    known = {c.key for c in self_check.choices("condition")}
    ticked = {str(v) for v in form.getlist("conditions")}
    if ticked - known:
        raise InvalidInput([FieldProblem("conditions", ", ".join(sorted(ticked - known)),
                                         ", ".join(sorted(known)))])
    medicines, others = [], []
    names = {display.lower(): key for key, (display, _) in self_check.medications().items()}
    for n in range(1, MEDICINE_ROWS + 1):
        typed = " ".join(str(form.get(f"medicine_{n}", "")).split())[:100]
        if not typed:
            continue
        daily = _number(form, f"medicine_{n}_mg", 0.01, 5000)
        key = names.get(typed.lower()) or (typed.lower() if typed.lower() in
                                           self_check.medications() else None)
        # Any medicine is accepted: one not on the interaction list is noted for the clinician.
        if key is None:
            others.append((typed, daily))
        else:
            medicines.append((key, daily))
    age = _number(form, "age", 1, 120, required=True)
    assert age is not None
    return self_check.Answers(
        age=int(age), route=route, conditions=frozenset(ticked),
        ketamine_allergy=form.get("ketamine_allergy") == "yes", medicines=tuple(medicines),
        other_medicines=tuple(others),
        systolic_mmhg=_plausible(form, "systolic_mmhg"),
        diastolic_mmhg=_plausible(form, "diastolic_mmhg"),
        weight_kg=_plausible(form, "weight_kg"),
        suicidal_thoughts=form.get("suicidal_thoughts") == "yes")


def _form(request: Request, db: Session, errors: list[str] | None = None,
          values: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    values = values or {}
    # A visitor who said they have suicidal thoughts sees where to get help first, even when
    # something else in the form needs fixing.
    at_risk = values.get("suicidal_thoughts") == "yes"
    return render(request, "decision/check.html", status_code=status_code, errors=errors or [],
                  values=values, conditions=self_check.choices("condition"),
                  concerns=self_check.choices("concern"), tried=self_check.choices("tried"),
                  medicines=sorted(d for d, _ in self_check.medications().values()),
                  rows=range(1, MEDICINE_ROWS + 1),
                  disclaimer=self_check.disclaimer(), crisis=decision.crisis_contacts(db),
                  at_risk=at_risk, act_now=crisis.act_now())


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request, db: Session = DB) -> Response:
    """The self-check form."""
    return _form(request, db)


def _cost(db: Session, answers: self_check.Answers) -> dict[str, Any] | None:
    """The course's cost at the first site with a price list, when it can be worked out."""
    if answers.route == "iv" and answers.weight_kg is None:
        return None
    # The course plan's sessions and, for esketamine, the label's first dose (dosing.toml).
    sessions = len(plan(route=answers.route, start=clock.today("UTC")).sessions)
    dose_mg = dosing.calculate(route="esketamine", ruleset=clinic_rules.current_ruleset(db=db)
                               ).dose_mg if answers.route == "esketamine" else None
    return decision.visitor_cost(db, route=answers.route, sessions=sessions,
                                 weight_kg=answers.weight_kg, dose_mg=dose_mg)


@router.post("/check", response_class=HTMLResponse)
def check_result(request: Request, db: Session = DB, form: FormData = FORM) -> Response:
    """The outcome of the self-check; nothing is stored."""
    values: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    values["conditions"] = [str(v) for v in form.getlist("conditions")]
    values["tried"] = [str(v) for v in form.getlist("tried")]
    try:
        answers = answers_from(form)
    except InvalidInput as exc:
        return _form(request, db, [p.text() for p in exc.problems], values, 422)
    result = self_check.check(answers, clock.today(decision.network_zone(db)),
                              clinic_rules.current_ruleset(db=db))
    cost = _cost(db, answers) if result.outcome != "not-eligible" else None
    concern = self_check.label_of("concern", str(form.get("concern", "")))
    tried = [t.label for t in self_check.choices("tried") if t.key in values["tried"]]
    return render(request, "decision/result.html", result=result, answers=answers,
                  concern=concern, tried=tried,
                  crisis=decision.crisis_contacts(db) if result.crisis else [], cost=cost, money=money,
                  act_now=crisis.act_now(),
                  preparation=decision_aid.preparation(answers.route,
                                                       clinic_rules.current_ruleset(db=db)),
                  sites=decision.public_sites(db),
                  disclaimer=self_check.disclaimer())


@router.get("/check/compare", response_class=HTMLResponse)
def compare(request: Request, db: Session = DB) -> Response:
    """The options for depression side by side, and the ketamine routes, each cell sourced."""
    return render(request, "decision/compare.html", options=decision_aid.options(),
                  attributes=decision_aid.ATTRIBUTES,
                  routes=decision_aid.routes(clinic_rules.current_ruleset(db=db)),
                  disclaimer=self_check.disclaimer())


@router.get("/check/prepare", response_class=HTMLResponse)
def prepare(request: Request, route: str = "iv", db: Session = DB) -> Response:
    """What to do before, during and after a session."""
    if route not in ("iv", "esketamine", "im"):
        raise InvalidInput([FieldProblem("route", repr(route), "iv, esketamine, im")])
    return render(request, "decision/prepare.html", route=route,
                  items=decision_aid.preparation(route, clinic_rules.current_ruleset(db=db)),
                  disclaimer=self_check.disclaimer())


@router.post("/check/enquiry", response_class=HTMLResponse)
def enquiry(request: Request, db: Session = DB, form: FormData = FORM) -> Response:
    """Send a message to the clinic (the result only when the visitor ticks to include it)."""
    name = str(form.get("name", "")).strip()
    contact = str(form.get("contact", "")).strip()
    problems = []
    if not 2 <= len(name) <= 150:
        problems.append("name: please give your name (2 to 150 characters)")
    if not 5 <= len(contact) <= 200:
        problems.append("contact: an email address or phone number (5 to 200 characters)")
    if problems:  # the form again, as typed, with what to fix; nothing stored
        return render(request, "decision/enquiry_sent.html", status_code=422, errors=problems,
                      values={k: str(v) for k, v in form.items() if k != "csrf_token"},
                      reasons=[str(r) for r in form.getlist("reason")])
    included = None
    if form.get("include_result") == "yes":
        included = {"outcome": str(form.get("outcome", ""))[:40],
                    "reasons": [str(r)[:300] for r in form.getlist("reason")][:20]}
    decision.record_enquiry(db, name=name, contact=contact,
                            message=str(form.get("message", ""))[:4000], self_check=included,
                            site_code=str(form.get("site", "")))
    return render(request, "decision/enquiry_sent.html", errors=[], values={}, reasons=[])


@router.get("/enquiries", response_class=HTMLResponse)
def inbox(request: Request, actor: Actor = Depends(require(Permission.ENQUIRIES_VIEW)),
          db: Session = DB) -> Response:
    """Enquiries and patients' messages to the caller's sites, newest first; reading a
    patient's message is audited on that patient's record."""
    rows = decision.inbox(db, actor)
    return render(request, "decision/inbox.html", rows=rows)
