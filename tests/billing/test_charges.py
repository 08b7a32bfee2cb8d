"""Charge generation from what happened at a session, prices kept on the invoice, the superbill,
and the estimate for a course."""

import io
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.billing import charges, estimate, payments, prices, superbill
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict, InvalidInput
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import billing as rules
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import GivenDose, TreatmentSession
from tests.inventory.helpers import sessions

ADMIN = Actor(username="admin", role="admin")
DESK = Actor(username="frontdesk", role="front_desk")


def codes(route: str, dose_mg: float, minutes: float | None = None) -> list[tuple[str, int]]:
    return [(c.code, c.units) for c in rules.session_codes(route=route, dose_mg=dose_mg,
                                                           infusion_minutes=minutes)]


def test_charge_codes_follow_the_table() -> None:
    assert codes("iv", 40, 40) == [("96365", 1), ("J3490", 1)]
    assert codes("iv", 40, 100) == [("96365", 1), ("96366", 1), ("J3490", 1)]
    assert codes("iv", 40, 90) == [("96365", 1), ("J3490", 1)]  # 30 min beyond: not more than 30
    assert codes("iv", 40, 160) == [("96365", 1), ("96366", 2), ("J3490", 1)]
    assert codes("esketamine", 84) == [("G2083", 1), ("J0013", 84)]
    assert codes("esketamine", 56) == [("G2082", 1), ("J0013", 56)]
    assert codes("im", 30) == [("96372", 1), ("J3490", 1)]
    assert all(row["source"] for row in rules.table()["codes"].values())
    assert all(c.basis for c in rules.session_codes(route="iv", dose_mg=40, infusion_minutes=100))


def site_a(db: Session) -> Site:
    return db.execute(select(Site).where(Site.code == "A")).scalar_one()


def price_list(db: Session, site: Site, since: date) -> None:
    for item, cents in (("96365", 45000), ("96366", 15000), (prices.KETAMINE_MG, 150),
                        ("G2082", 60000), ("G2083", 70000), ("J0013", 2500)):
        prices.set_price(db=db, site=site, item=item, amount_cents=cents, effective_from=since,
                         actor=ADMIN)


def closed_iv_session(db: Session, minutes: int, dose_mg: float = 35) -> TreatmentSession:
    [pk] = sessions(db, 1)
    session = db.get(TreatmentSession, pk)
    assert session is not None
    start = clock.now() - timedelta(hours=3)
    session.dose_start, session.dose_end = start, start + timedelta(minutes=minutes)
    session.dose_given = GivenDose(dose_mg=dose_mg, lot_number="K1", route="iv")
    session.ordered_by, session.status = "prescriber", "discharged"
    db.flush()
    return session


def test_invoice_keeps_its_prices_after_a_price_change(db: Session, world) -> None:
    site = site_a(db)
    price_list(db, site, date(2026, 1, 1))
    session = closed_iv_session(db, minutes=100)
    invoice = charges.charge_session(db=db, treatment_session=session, actor=DESK)
    lines = [(line.code, line.units, line.amount_cents) for line in charges.lines_of(db, invoice)]
    assert lines == [("96365", 1, 45000), ("96366", 1, 15000), ("J3490", 1, 5250)]
    assert invoice.total_cents == 65250 == sum(amount for *_, amount in lines)
    with pytest.raises(Conflict, match="already been charged"):
        charges.charge_session(db=db, treatment_session=session, actor=DESK)
    # The price rises from today: the charged session keeps its prices, a new one gets the new.
    prices.set_price(db=db, site=site, item="96365", amount_cents=52000,
                     effective_from=invoice.service_date, actor=ADMIN)
    db.expire_all()
    again = [(line.code, line.amount_cents) for line in charges.lines_of(db, invoice)]
    assert again[0] == ("96365", 45000) and db.get(type(invoice), invoice.pk).total_cents == 65250
    later = charges.charge_session(db=db, treatment_session=closed_iv_session(db, minutes=40), actor=DESK)
    assert charges.lines_of(db, later)[0].amount_cents == 52000


def test_missing_price_names_the_item(db: Session, world) -> None:
    session = closed_iv_session(db, minutes=40)
    with pytest.raises(InvalidInput, match="has no price for 96365"):
        charges.charge_session(db=db, treatment_session=session, actor=DESK)


def test_superbill_pdf_holds_patient_provider_codes_diagnoses_and_amounts(db: Session,
                                                                           world) -> None:
    site = site_a(db)
    price_list(db, site, date(2026, 1, 1))
    session = closed_iv_session(db, minutes=100)
    invoice = charges.charge_session(db=db, treatment_session=session, actor=DESK)
    patient = db.get(Patient, session.patient_pk)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        superbill.render(db, invoice))).pages)
    for expected in (patient.family_name, "prescriber", invoice.service_date.isoformat(),
                     "96365", "96366", "J3490", "F33.2", "450.00 USD", "652.50 USD"):
        assert expected in text, expected
    payments.record(db=db, site=site, patient=patient, amount_cents=20000, method="card",
                    reference="T-5521", note="deposit", actor=DESK)
    assert payments.balance_cents(db, patient) == 65250 - 20000
    with pytest.raises(InvalidInput, match="card numbers are never stored"):
        payments.record(db=db, site=site, patient=patient, amount_cents=100, method="card",
                        reference="4111 1111 1111 1111", note="", actor=DESK)


def test_estimate_for_six_infusions_at_80_kg_with_package_and_sliding_scale(db: Session,
                                                                            world) -> None:
    site = site_a(db)
    price_list(db, site, date(2026, 1, 1))
    on = date(2026, 11, 27)
    plain = estimate.estimate(db=db, site=site, route="iv", sessions=6, on=on, weight_kg=80)
    # By hand: 0.5 mg/kg x 80 kg = 40 mg; per session 450.00 + 40 x 1.50 = 510.00; six = 3,060.00
    assert plain.dose_mg == 40 and plain.total_cents == 306000
    prices.add_package(db=db, site=site, name="Six-infusion induction", route="iv", sessions=6,
                       amount_cents=240000, effective_from=date(2026, 6, 1), actor=ADMIN)
    band = prices.add_band(db=db, site=site, name="Band B", income_up_to_cents=4000000,
                           discount_pct=20, effective_from=date(2026, 1, 1), actor=ADMIN)
    result = estimate.estimate(db=db, site=site, route="iv", sessions=6, on=on, weight_kg=80,
                               band=band)
    # By hand: package 2,400.00, less 20 % = 480.00, leaves 1,920.00; 320.00 a session.
    assert [line.amount_cents for line in result.lines] == [240000, -48000]
    assert result.total_cents == 192000 == result.patient_pays_cents
    assert result.per_session_cents == 32000
    assert all(line.basis for line in result.lines)
    with pytest.raises(InvalidInput, match="weight"):
        estimate.estimate(db=db, site=site, route="iv", sessions=6, on=on)


def test_payment_plan_splits_exactly_and_flags_overdue(db: Session, world, clinic_clock) -> None:
    from ketaclinic.billing import plans

    site = site_a(db)
    patient = db.execute(select(Patient).order_by(Patient.pk)).scalars().first()
    # A deposit taken the day before the plan is set up pays for something else.
    clinic_clock.shift(timedelta(days=-1))
    payments.record(db=db, site=site, patient=patient, amount_cents=5000, method="cash",
                    reference="", note="deposit before the plan", actor=DESK)
    clinic_clock.shift(timedelta(days=1))
    start = clock.today(site.time_zone)  # the first instalment is due today
    plan = plans.create(db=db, site=site, patient=patient, total_cents=30001, instalments=3,
                        starts_on=start, every_days=30, note="", actor=DESK)
    rows = plans.states(db, plan, today=start)
    assert [r.instalment.amount_cents for r in rows] == [10001, 10000, 10000]
    assert sum(r.instalment.amount_cents for r in rows) == 30001
    assert [r.instalment.due_on for r in rows] == [start, start + timedelta(days=30),
                                                   start + timedelta(days=60)]
    assert [r.state for r in rows] == ["due", "due", "due"]  # the deposit is not an instalment
    payments.record(db=db, site=site, patient=patient, amount_cents=15000, method="card",
                    reference="T-2", note="", actor=DESK)
    later = plans.states(db, plan, today=start + timedelta(days=45))
    assert [(r.state, r.paid_cents) for r in later] == [("paid", 10001), ("overdue", 4999),
                                                        ("due", 0)]
    with pytest.raises(InvalidInput, match="Instalments"):
        plans.create(db=db, site=site, patient=patient, total_cents=100, instalments=30,
                     starts_on=start, every_days=30, note="", actor=DESK)


def test_the_claim_names_what_the_session_treated_first(db: Session, world) -> None:
    """Hypertension recorded before the depression put I10 first on the claim for a ketamine
    infusion, and depression back as a recurrence was left off it."""
    from ketaclinic.patients.models import Condition

    site = site_a(db)
    price_list(db, site, date(2026, 1, 1))
    session = closed_iv_session(db, minutes=40)
    patient_pk = session.patient_pk
    for row in db.execute(select(Condition).where(Condition.patient_pk == patient_pk)).scalars():
        row.clinical_status = "resolved"  # the helper's chart: only the conditions below count
    snomed, icd10 = "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
    for system, code, status in ((snomed, "59621000", "active"), (icd10, "E11.9", "active"),
                                 (icd10, "F33.2", "recurrence"), (icd10, "J45.909", "resolved")):
        db.add(Condition(patient_pk=patient_pk, system=system, code=code, display=code,
                         clinical_status=status, verification_status="confirmed",
                         created_by="nurse"))
    db.flush()
    invoice = charges.charge_session(db=db, treatment_session=session, actor=DESK)
    assert invoice.diagnoses == ["F33.2", "I10", "E11.9"]


def test_a_depression_without_its_episodes_is_claimed_as_unspecified(db: Session, world) -> None:
    """SNOMED 370143000 (major depressive disorder) says nothing of recurrence: it was claimed
    as F33.9 (recurrent, unspecified); ICD-10-CM indexes it to F32.9."""
    from ketaclinic.patients.models import Condition

    site = site_a(db)
    price_list(db, site, date(2026, 1, 1))
    session = closed_iv_session(db, minutes=40)
    for row in db.execute(select(Condition).where(
            Condition.patient_pk == session.patient_pk)).scalars():
        row.clinical_status = "resolved"
    db.add(Condition(patient_pk=session.patient_pk, system="http://snomed.info/sct",
                     code="370143000", display="Major depressive disorder",
                     clinical_status="active", verification_status="confirmed",
                     created_by="nurse"))
    db.flush()
    invoice = charges.charge_session(db=db, treatment_session=session, actor=DESK)
    assert invoice.diagnoses == ["F32.9"]


def test_a_receipt_is_dated_on_the_site_s_day(db: Session, world) -> None:
    """Paid at 21:00 on 31 December in New York: 02:00 on 1 January in UTC, the next tax
    year. The receipt says 31 December."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    site = site_a(db)
    patient = db.execute(select(Patient).order_by(Patient.pk).limit(1)).scalar_one()
    paid = payments.record(db=db, site=site, patient=patient, amount_cents=5000,
                           method="cash", reference="", note="", actor=DESK)
    paid.received_at = datetime(2026, 12, 31, 21, tzinfo=ZoneInfo("America/New_York"))
    db.flush()
    db.refresh(paid)  # read back as stored: in UTC
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        superbill.receipt(db, paid))).pages)
    assert "2026-12-31" in text and "2027-01-01" not in text
