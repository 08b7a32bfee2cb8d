"""A patient's entries a page at a time, newest first, so the work of showing a chart is bounded
by the page and not by the length of the patient's history."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from ketaclinic.errors import invalid
from ketaclinic.kernel.cursors import (
    decode_cursor,
    encode_cursor,
    moment_cursor,
    older_than_moment,
)
from ketaclinic.patients import vitals_tally
from ketaclinic.patients.models import ENTERED_IN_ERROR, Patient, VitalSigns

CURSOR_HINT = "the cursor from the previous page's Link header (rel=next)"


@dataclass(frozen=True)
class EntryPage:
    """Up to `limit` entries, newest first; the total of that kind, and where the next (older)
    page starts (None at the oldest)."""

    entries: Sequence[Any]
    total: int
    next_cursor: str | None


def _is_timed(model: Any) -> bool:
    return model is VitalSigns


def _cursor_of(model: Any, entry: Any) -> str:
    if _is_timed(model):
        return moment_cursor(entry.measured_at, entry.pk)
    return encode_cursor([str(entry.pk)])


def _older_than(model: Any, cursor: str) -> Any:
    if _is_timed(model):
        return older_than_moment(cursor, "before", CURSOR_HINT, model.measured_at, model.pk)
    parts = decode_cursor(cursor, "before", CURSOR_HINT)
    if len(parts) == 1 and parts[0].isdigit():
        return model.pk < int(parts[0])
    raise invalid("before", "is not a cursor this server gave", CURSOR_HINT)


def _newest_first(model: Any) -> list[Any]:
    if _is_timed(model):
        return [model.measured_at.desc(), model.pk.desc()]
    return [model.pk.desc()]


def page_of(db: Session, patient: Patient, model: Any, *, limit: int,
            before: str | None = None) -> EntryPage:
    """One page of a patient's entries of one kind (entered-in-error ones included), newest
    first, starting after the cursor when given."""
    query = select(model).where(model.patient_pk == patient.pk)
    if before:
        query = query.where(_older_than(model, before))
    rows = db.execute(query.order_by(*_newest_first(model)).limit(limit + 1)).scalars().all()
    total = db.execute(_total(model, patient.pk)).scalar_one()
    more = len(rows) > limit
    entries = rows[:limit]
    return EntryPage(entries=entries, total=int(total),
                     next_cursor=_cursor_of(model, entries[-1]) if more else None)


def _total(model: Any, patient_pk: int) -> Any:
    """SQL: how many entries of one kind the patient has; a chart's vital signs, which grow by
    the visit, from their tally rather than counted row by row."""
    if model is VitalSigns:
        return vitals_tally.sets_of(patient_pk)
    return select(func.count()).select_from(model).where(model.patient_pk == patient_pk)


@dataclass(frozen=True)
class LatestSet:
    """A set of vital signs and the signs (named as in `vitals_tally.TALLIED`) whose newest
    charted value it holds."""

    vitals: VitalSigns
    signs: tuple[str, ...]


def _newest_holding(sign: str) -> Any:
    """SQL: the newest current set of the patient's that holds a sign, read backward from the
    index on (patient, time)."""
    row = VitalSigns
    return (select(literal(sign).label("sign"), row.pk)
            .where(row.patient_pk == bindparam("patient_pk"), row.status != ENTERED_IN_ERROR,
                   vitals_tally.holds_any(row, vitals_tally.TALLIED[sign]))
            .order_by(row.measured_at.desc(), row.pk.desc()).limit(literal_column("1"))
            .subquery())


@cache
def _newest_of_each(signs: tuple[str, ...]) -> CompoundSelect:
    """SQL: for each of these signs, the newest current set that holds it."""
    return union_all(*(select(_newest_holding(sign)) for sign in signs))


def latest_vitals(db: Session, patient: Patient) -> list[LatestSet]:
    """Each vital sign's newest current (not entered-in-error) value in the chart, as the sets
    that hold them, newest first: a weight charted alone, after the blood pressure, hides no
    blood pressure. A sign no set ever held is not looked for (the patient's tally says so), so
    its search never reads the whole chart."""
    counts = db.execute(vitals_tally.held_by(patient.pk)).one()
    signs = tuple(sign for sign in vitals_tally.TALLIED if getattr(counts, sign))
    if not signs:
        return []
    signs_of: dict[int, list[str]] = {}
    for sign, pk in db.execute(_newest_of_each(signs), {"patient_pk": patient.pk}):
        signs_of.setdefault(pk, []).append(sign)
    sets = db.execute(select(VitalSigns).where(VitalSigns.pk.in_(signs_of))).scalars().all()
    return [LatestSet(vitals, tuple(s for s in signs if s in signs_of[vitals.pk]))
            for vitals in sorted(sets, key=lambda v: (v.measured_at, v.pk), reverse=True)]
