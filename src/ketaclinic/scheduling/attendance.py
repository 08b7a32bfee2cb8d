"""Attendance: how many appointments were kept, missed (no-show) or cancelled (late or not)."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import at_local
from ketaclinic.scheduling.models import CANCELLED, NO_SHOW, Appointment


@dataclass
class Attendance:
    """Counts over a period, and the patients with no-shows or late cancellations."""

    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    late_cancellations: int = 0
    patients: list[tuple[Patient, int, int]] = field(default_factory=list)  # no-shows, late


def report(db: Session, site: Site, first: date, last: date) -> Attendance:
    """Appointments starting from `first` to `last` (local days, both included)."""
    begin = at_local(site, first, time(0))
    end = at_local(site, last + timedelta(days=1), time(0))
    rows = db.execute(select(Appointment, Patient).join(
        Patient, Patient.pk == Appointment.patient_pk).where(
        Appointment.site_pk == site.pk, Appointment.starts_at >= begin,
        Appointment.starts_at < end)).all()
    result = Attendance(total=len(rows))
    missed: Counter[int] = Counter()
    late: Counter[int] = Counter()
    people = {}
    for appointment, patient in rows:
        result.by_status[appointment.status] += 1
        people[patient.pk] = patient
        if appointment.status == NO_SHOW:
            missed[patient.pk] += 1
        if appointment.status == CANCELLED and appointment.late_cancel:
            result.late_cancellations += 1
            late[patient.pk] += 1
    result.patients = sorted(((people[pk], missed[pk], late[pk]) for pk in set(missed) | set(late)),
                             key=lambda r: (-r[1] - r[2], r[0].family_name))
    return result
