"""A session's check-in checks: which the route asks for, which are not passed, and today's weight."""

from collections.abc import Sequence
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.knowledge.checkin import checks, checks_for
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient, VitalSigns
from ketaclinic.treatments.models import TreatmentSession

__all__ = ["checks_for", "failed_checks", "labels", "weight_today"]


def weight_today(db: Session, treatment_session: TreatmentSession) -> float | None:
    """The patient's latest weight charted today (in their site's time zone), if any."""
    patient = db.execute(select(Patient).where(Patient.pk == treatment_session.patient_pk)).scalar_one()
    zone = ZoneInfo(patients.time_zone_of(patient))
    today = patients.local_today(patient)
    recent = db.execute(select(VitalSigns.weight_kg, VitalSigns.measured_at).where(
        VitalSigns.patient_pk == patient.pk, VitalSigns.weight_kg.is_not(None),
        VitalSigns.status != ENTERED_IN_ERROR,
        VitalSigns.measured_at >= clock.now() - timedelta(days=2))
        .order_by(VitalSigns.measured_at.desc())).all()
    return next((w for w, at in recent if clock.date_in(at, zone) == today), None)


def failed_checks(treatment_session: TreatmentSession) -> list[str]:
    """The checks of the route not (yet) passed."""
    done = treatment_session.checks or {}
    return [c.id for c in checks_for(treatment_session.route) if not done.get(c.id, {}).get("ok")]


def labels(ids: Sequence[str]) -> list[str]:
    """The labels of some check ids, for messages."""
    by_id = {c.id: c.label for c in checks()}
    return [by_id.get(i, i) for i in ids]
