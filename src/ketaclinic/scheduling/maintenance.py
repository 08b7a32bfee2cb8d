"""Maintenance due list: courses past induction, when each patient's next session is due (from
their own response where their scores show one, else the route's default), and no session booked."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.courses.models import Course
from ketaclinic.knowledge import appointments as rules
from ketaclinic.measures import trajectory
from ketaclinic.patients.models import Patient, PatientMrn
from ketaclinic.scheduling.availability import ACTIVE, zone_of
from ketaclinic.scheduling.models import Appointment


@dataclass(frozen=True)
class Due:
    """One patient's next maintenance session."""

    patient: Patient
    course: Course
    last_session: date
    interval_days: int
    basis: str
    due_on: date
    overdue: bool


def due_list(db: Session, site: Site) -> list[Due]:
    """Courses of the site's living patients in maintenance with no future session booked, by
    due date."""
    today = clock.today(zone_of(site))
    courses = db.execute(select(Course, Patient).join(
        Patient, Patient.pk == Course.patient_pk).join(
        PatientMrn, PatientMrn.patient_pk == Patient.pk).where(
        PatientMrn.site_pk == site.pk, Course.plan_source.is_not(None),
        Patient.deceased.is_(False))).all()
    booked = set(db.execute(select(Appointment.course_pk).where(
        Appointment.status.in_(ACTIVE), Appointment.starts_at >= clock.now())).scalars())
    found = []
    latest: dict[int, int] = {}
    for course, _ in courses:  # only a patient's newest course counts
        latest[course.patient_pk] = max(latest.get(course.patient_pk, 0), course.pk)
    for course, patient in courses:
        if latest[patient.pk] != course.pk or course.pk in booked:
            continue
        view = trajectory.course_view(db, course, site.time_zone)
        in_maintenance = view.phase == "maintenance" or (
            view.decision is not None and view.decision.decision == "continue-maintenance")
        if not in_maintenance or not view.session_days:
            continue
        if view.relapse is not None:
            interval = view.relapse.suggested_interval_days
            basis = (f"this patient's benefit lasted {view.relapse.benefit_days} days "
                     f"({view.relapse.source})")
        else:
            default = rules.maintenance_default(course.route)
            interval, basis = default.interval_days, default.source
        last = view.session_days[-1]
        due_on = last + timedelta(days=interval)
        found.append(Due(patient, course, last, interval, basis, due_on, due_on < today))
    return sorted(found, key=lambda d: d.due_on)
