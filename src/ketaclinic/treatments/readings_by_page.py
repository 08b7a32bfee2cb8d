"""A session's readings a page at a time, newest first: a monitor sends one a second, so a
session of a few hours holds thousands, and the list of them is read and drawn a page at a time
(or its blood pressures alone, a few dozen among them), never all at once."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.kernel.cursors import moment_cursor, older_than_moment
from ketaclinic.knowledge.monitoring import Reading
from ketaclinic.patients.vitals_tally import holds_any
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments.models import SessionReading
from ketaclinic.treatments.service import VITAL_FIELDS

# Five minutes of a monitor's readings, one a second.
READINGS_PAGE = 300
CURSOR_HINT = "the link to older readings the page gave"
PRESSURE_FIELDS = reading_tally.TALLIED["blood_pressure"]


@dataclass(frozen=True)
class ReadingsPage:
    """Up to a page of a session's readings, newest first; how many the session holds (of
    those asked for), and where the next, older page starts (None at the oldest)."""

    readings: list[Reading]
    total: int
    next_cursor: str | None


def page_of(db: Session, session_pk: int, *, limit: int = READINGS_PAGE, before: str = "",
            pressures_only: bool = False) -> ReadingsPage:
    """One page of the session's readings (those holding a blood pressure, if asked), newest
    first, starting after the cursor when given: read backward from the index on (session,
    time), the total from the session's reading tally."""
    row = SessionReading
    query = select(row.pk, row.taken_at, *[getattr(row, f) for f in VITAL_FIELDS]).where(
        row.session_pk == session_pk)
    if pressures_only:
        query = query.where(holds_any(row, PRESSURE_FIELDS))
    if before:
        query = query.where(older_than_moment(before, "before", CURSOR_HINT, row.taken_at, row.pk))
    rows = db.execute(query.order_by(row.taken_at.desc(), row.pk.desc()).limit(limit + 1)).all()
    tally = db.execute(reading_tally.summed([session_pk])).first()
    total = 0 if tally is None else int(tally.blood_pressure if pressures_only else tally.readings)
    shown = rows[:limit]
    return ReadingsPage(readings=[Reading(*r[1:]) for r in shown], total=total,
                        next_cursor=moment_cursor(shown[-1].taken_at, shown[-1].pk)
                        if len(rows) > limit else None)
