"""The vital-signs trend as a bounded series: the last stretch of a patient's readings, at most a
fixed number of buckets per measurement, each keeping its lowest and highest value so that a
peak is never averaged away."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.kernel import svg_chart
from ketaclinic.kernel.svg_chart import Bucket
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient, VitalSigns

# The chart shows the readings of this stretch up to the newest one (older ones are in the
# table, a page at a time), in at most this many buckets per measurement.
TREND_SPAN = timedelta(days=90)
TREND_BUCKETS = 120
MEASUREMENTS = ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "weight_kg")


@dataclass(frozen=True)
class Trend:
    """Each measurement's buckets (empty when never measured), oldest first."""

    series: dict[str, list[Bucket]]

    def is_empty(self) -> bool:
        """Whether no measurement has a reading."""
        return not any(self.series.values())


def version(db: Session, patient: Patient) -> tuple[int, datetime | None]:
    """What changes whenever the patient's vital signs do (a reading added or corrected)."""
    count, changed = db.execute(
        select(func.count(), func.max(VitalSigns.updated_at))
        .where(VitalSigns.patient_pk == patient.pk)).one()
    return int(count), changed


def trend(db: Session, patient: Patient) -> Trend:
    """The bounded series of the patient's current (not entered-in-error) vital signs."""
    current = (VitalSigns.patient_pk == patient.pk, VitalSigns.status != ENTERED_IN_ERROR)
    newest = db.execute(select(func.max(VitalSigns.measured_at)).where(*current)).scalar_one()
    if newest is None:
        return Trend({name: [] for name in MEASUREMENTS})
    columns = [getattr(VitalSigns, name) for name in MEASUREMENTS]
    rows = db.execute(select(VitalSigns.measured_at, *columns)
                      .where(*current, VitalSigns.measured_at >= newest - TREND_SPAN)
                      .order_by(VitalSigns.measured_at)).all()
    return Trend({name: buckets([(row[0], row[i + 1]) for row in rows if row[i + 1] is not None])
                  for i, name in enumerate(MEASUREMENTS)})


def buckets(points: Sequence[tuple[datetime, float]],
            count: int = TREND_BUCKETS) -> list[Bucket]:
    """Points (oldest first) in the trend's buckets (`svg_chart.buckets`)."""
    return svg_chart.buckets(points, count)
