"""Each patient's chart vital-signs tally (how many of their vital-signs rows hold each vital
sign), kept current in the transaction of every write of those rows, so a FHIR Observation
search counts a long chart without reading it.

Chart vital signs are only ever added: a correction marks a row entered-in-error and leaves its
values and its patient as they were. So a write adds its rows' counts to their patients'
tallies. On PostgreSQL, in one statement, it takes one of the patient's parts that no other
transaction in flight holds (`FOR UPDATE SKIP LOCKED`) and adds its counts to it in place, or
writes them as a new part when every part is held. Writers of one patient never wait for each
other, a patient has at most as many parts as writers were ever in flight for them at once,
and the tally, the sum of the parts, stays right however the writes interleave. SQLite has one
writer at a time: its counts go into the patient's one part in place.
"""

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from ketaclinic.array_inserts import unnest_of
from ketaclinic.patients.models import VitalSigns, VitalSignsTally

TALLY = cast(Table, VitalSignsTally.__table__)
# Each tallied vital sign and the row's fields any one of which holds it.
TALLIED: dict[str, tuple[str, ...]] = {
    "blood_pressure": ("systolic_mmhg", "diastolic_mmhg"),
    "heart_rate": ("heart_rate_bpm",),
    "respiratory_rate": ("respiratory_rate_per_min",),
    "spo2": ("spo2_pct",),
    "temperature": ("temperature_c",),
    "weight": ("weight_kg",),
    "height": ("height_cm",),
}
COLUMNS = ("patient_pk", "sets", *TALLIED)


def tallies_of(rows: Iterable[VitalSigns]) -> list[dict[str, int]]:
    """The tally parts these new rows make: one a patient."""
    parts: dict[int, dict[str, int]] = {}
    for row in rows:
        part = parts.setdefault(row.patient_pk, dict.fromkeys(COLUMNS[1:], 0)
                                | {"patient_pk": row.patient_pk})
        part["sets"] += 1
        for name, fields in TALLIED.items():
            part[name] += any(getattr(row, f) is not None for f in fields)
    return [parts[pk] for pk in sorted(parts)]


def add(connection: Connection, rows: Iterable[VitalSigns]) -> None:
    """Add new rows to their patients' tallies (on PostgreSQL to a part no other writer
    holds, or a new part)."""
    parts = tallies_of(rows)
    if not parts:
        return
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_ADDING_TO_A_FREE_PART,
                                   {name: [part[name] for part in parts] for name in COLUMNS})
        return
    for part in parts:  # SQLite: one writer at a time, so one part a patient, added to
        added = {f"added_{name}": part[name] for name in COLUMNS}
        if not connection.execute(_ADDING_IN_PLACE, added).rowcount:
            connection.execute(insert(TALLY), part)


# SQLite: the new counts added to the patient's one part (none yet: the insert makes it).
_ADDING_IN_PLACE = (update(TALLY).where(TALLY.c.patient_pk == bindparam("added_patient_pk"))
                    .values({name: TALLY.c[name] + bindparam(f"added_{name}")
                             for name in COLUMNS[1:]}))
_LIST = ", ".join(COLUMNS)
_ADDED = ", ".join(f"{name} = part.{name} + chosen.{name}" for name in COLUMNS[1:])
# PostgreSQL: the new parts as one array a column (one text for any number of patients); for
# each, one of the patient's parts that no other writer holds is chosen and locked, and the new
# counts are added to it in place (a heap-only update: the table's indexes are not touched);
# where every part is held, or there is none yet, the new counts are a part of their own.
# Identifiers come from the table's own metadata; values travel as parameters.
_ADDING_TO_A_FREE_PART = (
    f"WITH new_parts ({_LIST}) AS (SELECT * FROM {unnest_of(TALLY, COLUMNS)}), "  # noqa: S608
    "chosen AS MATERIALIZED (SELECT new_parts.*, free.pk AS part_pk FROM new_parts "
    f"LEFT JOIN LATERAL (SELECT pk FROM {TALLY.name} "
    f"WHERE {TALLY.name}.patient_pk = new_parts.patient_pk LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "AS free ON true), "
    f"added AS (UPDATE {TALLY.name} AS part SET {_ADDED} FROM chosen "
    "WHERE part.pk = chosen.part_pk) "
    f"INSERT INTO {TALLY.name} ({_LIST}) SELECT {_LIST} FROM chosen WHERE part_pk IS NULL")


def sets_of(patient_pk: Any) -> Any:
    """SQL: how many sets of vital signs the patient's chart holds, from their tally."""
    return select(func.coalesce(func.sum(TALLY.c.sets), 0)).where(
        TALLY.c.patient_pk == patient_pk)


def held_by(patient_pk: Any) -> Any:
    """SQL: how many of the patient's vital-signs rows hold each tallied sign (one row, each
    sign's count named as in `TALLIED`), from their tally."""
    return select(*[func.coalesce(func.sum(TALLY.c[name]), 0).label(name) for name in TALLIED]
                  ).where(TALLY.c.patient_pk == patient_pk)


def holds_any(model: Any, fields: Iterable[str]) -> Any:
    """SQL: the row (of vital signs, chart or chair) holds at least one of these fields, the
    way a tallied vital sign is held."""
    return or_(*[getattr(model, f).is_not(None) for f in fields])


def counted(which: Any) -> Any:
    """SQL: the tally of each patient whose rows meet a condition, counted from those rows."""
    row = VitalSigns
    return (select(row.patient_pk, func.count().label("sets"),
                   *[func.count(case((holds_any(row, fields), 1))).label(name)
                     for name, fields in TALLIED.items()])
            .where(which).group_by(row.patient_pk))


def rebuild(connection: Connection, table: Table = TALLY) -> None:
    """Every patient's tally counted from their rows, one part each, while nothing else writes
    them: the migration that adds the table, or after rows written around the ORM (a
    benchmark's bulk insert)."""
    connection.execute(delete(table))
    counts = counted(true())
    connection.execute(insert(table).from_select([c.name for c in counts.selected_columns],
                                                 counts))


@event.listens_for(Session, "after_flush")
def _tally_new_rows(session: Session, _context: Any) -> None:
    """Add the vital signs a flush wrote to their patients' tallies, in its transaction."""
    written = [row for row in session.new if isinstance(row, VitalSigns)]
    if written:
        add(session.connection(), written)
