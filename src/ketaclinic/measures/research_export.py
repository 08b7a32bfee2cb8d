"""The de-identified research export: one CSV row per measure, no direct identifiers.

Patients appear under a keyed pseudonym (HMAC-SHA256 of their id with the server's secret, so it
is stable across exports and cannot be reversed without the key); ages are 10-year bands at the
measure; every date is shifted by a per-patient offset of up to 180 days either way (the same
offset for all of a patient's rows, so intervals are kept). Names, contacts, addresses, MRNs,
record ids and exact birth dates are never written.
"""

import hashlib
import hmac
from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.courses.models import Course
from ketaclinic.measures.models import Measure, MeasureAnswer
from ketaclinic.patients.models import Patient
from ketaclinic.settings import get_settings
from ketaclinic.spreadsheet import csv_text

MAX_SHIFT_DAYS = 180
COLUMNS = {
    "subject": "keyed pseudonym of the patient (stable across exports of this clinic)",
    "age_band": "age at the measure in 10-year bands (e.g. 40-49; 90+ for 90 and over)",
    "sex": "female, male, other or unknown",
    "site": "site code",
    "route": "route of the patient's course at the time (blank: no course)",
    "indication": "indication of that course",
    "shifted_date": "the measure's date shifted by the patient's offset (intervals kept)",
    "course_day": "days since the course's first measure (blank: no course)",
    "instrument": "phq9, gad7, pcl5, qids16, madrs, pain, cssrs, moass, cadss",
    "total": "total score (blank for the C-SSRS screener)",
    "band": "severity band of the total",
    "risk_level": "C-SSRS screener risk level",
    "answers": "item answers in item order, separated by ';' (blank item: not asked)",
    "occasion": "baseline, before-session, end-of-induction, follow-up or ad-hoc",
    "reported_by": "patient (self-report) or staff (entered on the patient's behalf)",
}


def _keyed(patient_id: str) -> bytes:
    key = get_settings().secret_key.encode("utf-8")
    return hmac.new(key, f"research:{patient_id}".encode(), hashlib.sha256).digest()


def pseudonym(patient_id: str) -> str:
    """The patient's export pseudonym."""
    return "S" + _keyed(patient_id).hex()[:12]


def shift_days(patient_id: str) -> int:
    """The patient's date offset, between -180 and +180 days, never 0."""
    value = int.from_bytes(_keyed(patient_id)[16:20], "big") % (2 * MAX_SHIFT_DAYS) - MAX_SHIFT_DAYS
    return value if value != 0 else MAX_SHIFT_DAYS


def age_band(birth_date: date, on: date) -> str:
    """A 10-year age band (90+ at the top)."""
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if age >= 90:
        return "90+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def rows(*, db: Session, site_pks: set[int] | frozenset[int]) -> Iterator[list[str]]:
    """The export's rows (header first), one per measure at the given sites."""
    yield list(COLUMNS)
    query = (select(Measure, Patient.id, Patient.birth_date, Patient.sex, Site.code,
                    Course.route, Course.indication, Site.time_zone)
             .join(Patient, Patient.pk == Measure.patient_pk)
             .join(Site, Site.pk == Measure.site_pk)
             .outerjoin(Course, Course.pk == Measure.course_pk)
             .where(Measure.status == "final", Measure.site_pk.in_(site_pks))
             .order_by(Measure.patient_pk, Measure.taken_at))
    first_of_course: dict[int, date] = {}
    for chunk in db.execute(query.execution_options(yield_per=2000)).partitions():
        answers: dict[int, list[str]] = {}
        for measure_pk, value in db.execute(
                select(MeasureAnswer.measure_pk, MeasureAnswer.value)
                .where(MeasureAnswer.measure_pk.in_([row[0].pk for row in chunk]))
                .order_by(MeasureAnswer.measure_pk, MeasureAnswer.item_number)):
            answers.setdefault(measure_pk, []).append("" if value is None else str(value))
        for measure, patient_id, birth_date, sex, site, route, indication, zone in chunk:
            day = clock.date_in(measure.taken_at, zone)  # the day at the site that took it
            course_day = ""
            if measure.course_pk is not None:
                start = first_of_course.setdefault(measure.course_pk, day)
                course_day = str((day - start).days)
            yield [pseudonym(str(patient_id)), age_band(birth_date, day), sex, site, route or "",
                   indication or "", (day + timedelta(days=shift_days(str(patient_id)))).isoformat(),
                   course_day, measure.instrument, "" if measure.total is None else str(measure.total),
                   measure.band or "", measure.risk_level or "", ";".join(answers.get(measure.pk, [])),
                   measure.occasion, "staff" if measure.source == "staff" else "patient"]


def to_csv(*, db: Session, site_pks: set[int] | frozenset[int]) -> str:
    """The whole export as CSV text."""
    header, *body = list(rows(db=db, site_pks=site_pks))
    return csv_text(header, body)
