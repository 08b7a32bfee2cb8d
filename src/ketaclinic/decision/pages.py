"""Public pages, no login: "Is ketamine therapy right for me?" self-check (nothing stored),
the comparison of options, preparation guidance and a cost estimate; an enquiry to the clinic
only when the visitor sends one; the staff inbox of enquiries."""

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.billing import estimate as estimates
from ketaclinic.billing.superbill import money
from ketaclinic.clinics.models import Network, Site
from ketaclinic.decision.models import Enquiry
from ketaclinic.errors import DomainError, FieldProblem, InvalidInput
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.knowledge import crisis, decision_aid, dosing, self_check
from ketaclinic.knowledge.courses import plan
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.patients.models import Patient
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.templating import render

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
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


def _crisis(db: Session) -> list[str]:
    """The network's crisis contacts, or the national ones when it has set none."""
    network = db.execute(select(Network).order_by(Network.pk).limit(1)).scalar_one_or_none()
    return list(network.crisis_contacts or []) if network and network.crisis_contacts \
        else crisis.fallback_contacts()


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
                  disclaimer=self_check.disclaimer(), crisis=_crisis(db),
                  at_risk=at_risk, act_now=crisis.act_now())


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request, db: Session = DB) -> Response:
    """The self-check form."""
    return _form(request, db)


def _network_zone(db: Session) -> str:
    """The zone a visitor's dates are read in: the network's first site's."""
    return db.execute(select(Site.time_zone).order_by(Site.code).limit(1)).scalar_one_or_none() \
        or "UTC"


def _cost(db: Session, answers: self_check.Answers) -> dict[str, Any] | None:
    """The course's cost at the first site with a price list, when it can be worked out."""
    if answers.route == "iv" and answers.weight_kg is None:
        return None
    # The course plan's sessions and, for esketamine, the label's first dose (dosing.toml).
    sessions = len(plan(route=answers.route, start=clock.today("UTC")).sessions)
    dose_mg = dosing.calculate(route="esketamine").dose_mg if answers.route == "esketamine" \
        else None
    sites = db.execute(select(Site).order_by(Site.code)).scalars().all()
    for site in sites:
        try:
            result = estimates.estimate(db=db, site=site, route=answers.route, sessions=sessions,
                                        on=clock.today(site.time_zone), weight_kg=answers.weight_kg,
                                        dose_mg=dose_mg)
        except DomainError:
            continue
        return {"site": site, "estimate": result}
    return None


@router.post("/check", response_class=HTMLResponse)
async def check_result(request: Request, db: Session = DB) -> Response:
    """The outcome of the self-check; nothing is stored."""
    form = await request.form()
    values: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    values["conditions"] = [str(v) for v in form.getlist("conditions")]
    values["tried"] = [str(v) for v in form.getlist("tried")]
    try:
        answers = answers_from(form)
    except InvalidInput as exc:
        return _form(request, db, [p.text() for p in exc.problems], values, 422)
    result = self_check.check(answers, clock.today(_network_zone(db)))
    cost = _cost(db, answers) if result.outcome != "not-eligible" else None
    db.rollback()  # the visitor's answers are never written anywhere
    concern = self_check.label_of("concern", str(form.get("concern", "")))
    tried = [t.label for t in self_check.choices("tried") if t.key in values["tried"]]
    return render(request, "decision/result.html", result=result, answers=answers,
                  concern=concern, tried=tried,
                  crisis=_crisis(db) if result.crisis else [], cost=cost, money=money,
                  act_now=crisis.act_now(),
                  preparation=decision_aid.preparation(answers.route),
                  sites=db.execute(select(Site).order_by(Site.code)).scalars().all(),
                  disclaimer=self_check.disclaimer())


@router.get("/check/compare", response_class=HTMLResponse)
def compare(request: Request) -> Response:
    """The options for depression side by side, and the ketamine routes, each cell sourced."""
    return render(request, "decision/compare.html", options=decision_aid.options(),
                  attributes=decision_aid.ATTRIBUTES, routes=decision_aid.routes(),
                  disclaimer=self_check.disclaimer())


@router.get("/check/prepare", response_class=HTMLResponse)
def prepare(request: Request, route: str = "iv") -> Response:
    """What to do before, during and after a session."""
    if route not in ("iv", "esketamine", "im"):
        raise InvalidInput([FieldProblem("route", repr(route), "iv, esketamine, im")])
    return render(request, "decision/prepare.html", route=route,
                  items=decision_aid.preparation(route),
                  disclaimer=self_check.disclaimer())


@router.post("/check/enquiry", response_class=HTMLResponse)
async def enquiry(request: Request, db: Session = DB) -> Response:
    """Send a message to the clinic (the result only when the visitor ticks to include it)."""
    form = await request.form()
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
    # The enquiry belongs to the clinic the visitor chose (else the network's first).
    sites = db.execute(select(Site).order_by(Site.code)).scalars().all()
    site = next((s for s in sites if s.code == str(form.get("site", ""))), sites[0] if sites else None)
    db.add(Enquiry(name=name, contact=contact, message=str(form.get("message", ""))[:4000],
                   self_check=included, received_at=clock.now(), created_by="public",
                   site_pk=site.pk if site else None))
    return render(request, "decision/enquiry_sent.html", errors=[], values={}, reasons=[])


@router.get("/enquiries", response_class=HTMLResponse)
def inbox(request: Request, actor: Actor = Depends(require(Permission.ENQUIRIES_VIEW)),
          db: Session = DB) -> Response:
    """Enquiries and patients' messages to the caller's sites, newest first; reading a
    patient's message is audited on that patient's record."""
    rows = db.execute(select(Enquiry, Site).join(Site, Site.pk == Enquiry.site_pk)
                      .where(Enquiry.site_pk.in_(actor.site_pks))
                      .order_by(Enquiry.received_at.desc()).limit(200)).all()
    patient_ids = dict(db.execute(select(Patient.pk, Patient.id).where(Patient.pk.in_(
        [e.patient_pk for e, _ in rows if e.patient_pk is not None]))).all())
    for enquiry, _ in rows:
        if enquiry.patient_pk is not None:
            audit.record(db=db, actor=actor, action="read", record_type="Enquiry",
                         record_id=enquiry.id, patient_id=patient_ids[enquiry.patient_pk],
                         detail="message in the enquiries inbox")
    audit.record(db=db, actor=actor, action="read", record_type="Enquiry", record_id="inbox",
                 detail=f"{len(rows)} enquiries at {len(actor.site_pks)} sites")
    return render(request, "decision/inbox.html", rows=rows)
