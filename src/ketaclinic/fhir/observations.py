"""Observation search that answers a page without building every Observation.

A patient's Observations come, in this order, from the chart's vital signs, the measures, the
chart's pregnancy and breastfeeding observations, and each treatment session's chair readings
and scores (`store.of_type` builds them all). Each source is counted in SQL and only the rows a
page needs are read and built: a vital-signs row is up to seven Observations, one per
measurement present that passes the `code` filter (dates and `_lastUpdated` are conditions on
the row); the chart's rows and a session's readings are counted
from their tallies (ketaclinic.patients.vitals_tally, ketaclinic.treatments.reading_tally) unless
a date bounds the search, so a long chart or treatment history is not read to count it. A page
further down the list, in its order or by date, starts where the database finds it (a running
count of each row's Observations), so only the page's rows are read and built; a page by date
reads the chair readings of the few sessions that can hold it. A search by `_id` reads the
rows' columns lightly and builds its page.

The four parts' counts are one statement (which also opens the patient, reach checked and the
read audited, when the search is given them still to open); the sessions are listed, each with
its own counts, by one more only when a page reaches them, and the runs a page takes (the
chart's, the measures', the pregnancy and breastfeeding observations', sessions' readings and
scores) are read together. Statements that do
not depend on where a page starts (the counts, the list of sessions, each run's first rows, the
top of a sorted list) are built once per search filters and bound to the patient or session when
they run: building a statement costs more than running it on a short list.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from itertools import chain, islice
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from ketaclinic.errors import invalid
from ketaclinic.fhir import mapping
from ketaclinic.fhir import measures as measure_map
from ketaclinic.fhir.filters import Filters
from ketaclinic.fhir.measures import SURVEY
from ketaclinic.fhir.search import SearchPage
from ketaclinic.kept_rows import kept_rows, kept_rows_together
from ketaclinic.kernel.cursors import decode_cursor, encode_cursor
from ketaclinic.knowledge import instruments
from ketaclinic.knowledge.status_observations import watched_codes
from ketaclinic.measures import service as measures
from ketaclinic.measures.models import Measure
from ketaclinic.patients import service as patients
from ketaclinic.patients import vitals_tally
from ketaclinic.patients.models import Patient, StatusObservation, VitalSigns, VitalSignsTally
from ketaclinic.patients.service import PatientKeys, PatientToOpen
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments.models import SessionEvent, SessionReading, TreatmentSession

Resource = dict[str, Any]
# Whose Observations: the record itself or just its keys (all a search uses).
Whose = Patient | PatientKeys


@dataclass(frozen=True)
class _Group:
    """One Observation a vital-signs row may be: its id suffix, codings and columns."""

    suffix: str
    codes: tuple[tuple[str, str], ...]
    fields: tuple[str, ...]

    def present(self, model: Any) -> Any:
        """SQL: the row holds this Observation."""
        return vitals_tally.holds_any(model, [f for f in self.fields if hasattr(model, f)])

    def kept_by(self, model: Any) -> bool:
        """Whether rows of this table can hold this Observation at all."""
        return any(hasattr(model, f) for f in self.fields)


GROUPS = (
    _Group("bp", ((mapping.LOINC, "85354-9"),), ("systolic_mmhg", "diastolic_mmhg")),
    *[_Group(suffix, ((mapping.LOINC, code),)
             + (((mapping.LOINC, "59408-5"),) if suffix == "spo2" else ()), (field,))
      for field, suffix, code, _, _ in mapping.VITAL_SERIES])


# The tally column (ketaclinic.treatments.reading_tally) counting each group's chair readings.
_TALLIED = {g.suffix: name for g in GROUPS for name, fields in reading_tally.TALLIED.items()
            if g.kept_by(SessionReading)
            and fields == tuple(f for f in g.fields if hasattr(SessionReading, f))}
# The tally column (ketaclinic.patients.vitals_tally) counting each group's chart rows.
_CHART_TALLIED = {g.suffix: name for g in GROUPS for name, fields in vitals_tally.TALLIED.items()
                  if fields == g.fields}


@dataclass(frozen=True)
class _Kept:
    """Some of a run's Observations as one statement kept for reuse: the statement, its values,
    and how its rows build them."""

    statement: Any
    params: dict[str, Any]
    build: Callable[[Sequence[Any]], list[Resource]]


@dataclass(frozen=True)
class _Segment:
    """A run of the list: how many of its Observations pass, and the statement kept for reuse
    that reads some of them (skip, take), so that a page's runs are read together (None for a
    run none of whose Observations can pass)."""

    total: int
    rows_of: Callable[[int, int], _Kept] | None  # (skip, take)


# A run none of whose Observations can pass.
_NONE_PASS = _Segment(0, None)


def search(db: Session, patient: Whose, filters: Filters, offset: int, count: int,
           newest_first: bool | None = None) -> tuple[list[Resource], int]:
    """One page of the patient's Observations that pass the filters, and how many pass; in the
    list's order, or by date (`newest_first` True or False) as `_sort` asks."""
    found = search_page(db, patient, filters, offset, count, newest_first)
    return found.entries, found.total


CURSOR_HINT = "the cursor from the previous page's next link, with the same _sort"


def search_page(db: Session, patient: Whose | PatientToOpen, filters: Filters, offset: int,
                count: int, newest_first: bool | None = None, cursor: str | None = None
                ) -> SearchPage:
    """`search`, with a page by date started at a cursor an earlier page gave (`offset` is
    then that page's place in the list, as its next link says). A patient still to open is
    opened by the statement that counts (one query, not two)."""
    if cursor is not None and (newest_first is None or filters.ids):
        raise invalid("_cursor", "pages a search sorted by date", CURSOR_HINT)
    if filters.ids:
        return SearchPage(*_search_light(db, patients.opened(db, patient), filters, offset,
                                         count, newest_first))
    patient, (vitals, measured, observed, in_sessions) = _counted(db, patient, filters)
    charted = vitals + measured + observed
    if newest_first is not None:
        return _search_by_date(db, patient, filters, offset, count, newest_first,
                               charted + in_sessions,
                               None if cursor is None else _start_at(cursor, newest_first,
                                                                     offset))
    segments: Iterable[_Segment] = _chart_segments(db, patient, filters,
                                                   (vitals, measured, observed))
    if in_sessions and offset + count > charted:  # the page reaches the sessions'
        segments = chain(segments, _session_segments(db, patient, filters))
    return SearchPage(_fill(db, segments, offset, count), charted + in_sessions)


def _fill(db: Session, segments: Iterable[_Segment], offset: int, count: int
          ) -> list[Resource]:
    """The page these runs, in order, hold. The runs are counted, so what each gives the page
    is known before any is read, and the runs it takes are read together
    (`kept_rows_together`); those after the page are not looked at."""
    wanted: list[_Kept] = []
    position = taking = 0
    for segment in segments:
        if position >= offset + count:
            break
        start, end = position, position + segment.total
        if segment.rows_of is not None and segment.total and end > offset \
                and start < offset + count:
            skip = max(0, offset - start)
            take = min(count - taking, segment.total - skip)
            wanted.append(segment.rows_of(skip, take))
            taking += take
        position = end
    read = kept_rows_together(db, [(k.statement, k.params) for k in wanted])
    return [resource for kept, rows in zip(wanted, read, strict=True)
            for resource in kept.build(rows)]


def _session_segments(db: Session, patient: Whose, filters: Filters) -> Iterator[_Segment]:
    """The runs after the chart's, in order: each session's chair readings and scores that can
    pass, the sessions listed with their counts by one statement kept for reuse
    (`_listed_sessions`), and each run made only when the page gets that far."""
    pid = str(patient.id)
    for pk, session_id, readings, scores in kept_rows(db, _listed_sessions(filters),
                                                      {"patient_pk": patient.pk}):
        if readings:
            yield _reading_segment(db, pk, session_id, pid, filters, int(readings))
        if scores:
            yield _score_segment(db, pk, session_id, pid, filters, int(scores))


def _chart_segments(db: Session, patient: Whose, filters: Filters,
                    totals: tuple[int, int, int]) -> list[_Segment]:
    """The runs before the sessions', counted already (`_counted`): the chart's vital signs, the
    measures, then the pregnancy and breastfeeding observations."""
    pid = str(patient.id)
    return [_vital_segment(db, VitalSigns, filters,
                           lambda row: mapping.vital_observations(row, pid), totals[0],
                           {"patient_pk": patient.pk}),
            _measure_segment(patient, filters, totals[1]),
            _observed_segment(patient, filters, totals[2])]


# The patient a statement kept for reuse is about, given when it runs.
PATIENT_PK = bindparam("patient_pk", type_=VitalSigns.patient_pk.type)
# The chart's rows of that patient (made once: an ORM comparison is slow to build).
OF_PATIENT = VitalSigns.patient_pk == PATIENT_PK
# The session a statement kept for reuse is about, given when it runs.
SESSION_PK = bindparam("session_pk", type_=SessionReading.session_pk.type)
# That session's chair readings (made once: an ORM comparison is slow to build).
OF_SESSION = SessionReading.session_pk == SESSION_PK
# How many rows a kept statement reads (and skips), given when it runs.
TAKE = bindparam("take", type_=VitalSigns.pk.type)
SKIP = bindparam("skip", type_=VitalSigns.pk.type)
REACH = bindparam("reach", type_=VitalSigns.pk.type)  # SKIP + 1
# Statements kept for reuse, one per search filters: building a statement and its cache key
# costs more than running it on a short list, and most searches ask the same few things.
KEPT_STATEMENTS = 256


@lru_cache(maxsize=KEPT_STATEMENTS)
def _listed_sessions(filters: Filters) -> Any:
    """SQL, for the patient `PATIENT_PK`: each session's key and id, how many of its chair
    readings' Observations pass and how many of its scores', in the list's order."""
    of_patient = _sessions_of(PATIENT_PK)
    counted: list[tuple[Any, Any]] = []
    for query in (_reading_counts(of_patient, filters),
                  _score_counts(of_patient, filters)):
        if query is None:
            counted.append((None, literal(0)))
        else:
            per_session = query.subquery()
            counted.append((per_session, func.coalesce(per_session.c.n, 0)))
    listed = select(TreatmentSession.pk, TreatmentSession.id,
                    *[n.label(name) for (_, n), name in zip(counted, ("readings", "scores"),
                                                            strict=True)])
    for per_session, _ in counted:
        if per_session is not None:
            listed = listed.outerjoin(per_session,
                                      per_session.c.session_pk == TreatmentSession.pk)
    return (listed.where(TreatmentSession.patient_pk == PATIENT_PK)
            .order_by(TreatmentSession.checked_in_at, TreatmentSession.pk))


def _counted(db: Session, patient: Whose | PatientToOpen, filters: Filters
             ) -> tuple[Whose, tuple[int, int, int, int]]:
    """The patient (opened, if still to be, by the same statement) and how many of their
    Observations pass, in the four parts of the list: the chart's vital signs, the measures, the
    pregnancy and breastfeeding observations, and the sessions' (summed, however many sessions
    there are)."""
    if isinstance(patient, PatientToOpen):
        row = patients.open_patient_with(db=db, patient_id=patient.patient_id,
                                         actor=patient.actor, purpose=patient.purpose,
                                         statement=_opening(filters))
        patient = PatientKeys(row.pk, row.id)
    else:
        row = kept_rows(db, _counting(filters), {"patient_pk": patient.pk})[0]
    return patient, (int(row.vitals), int(row.measured), int(row.observed),
                     int(row.in_sessions))


@lru_cache(maxsize=KEPT_STATEMENTS)
def _counting(filters: Filters) -> Any:
    """SQL, for the patient `PATIENT_PK`: the counts `_counted` gives, in one statement."""
    return select(*_count_columns(filters, PATIENT_PK))


# The key of the patient whose public id `patients.PATIENT_KEY` is (looked up in the statement,
# never correlated with one around it).
_KEY_OF_PATIENT = (select(Patient.pk).where(Patient.id == patients.PATIENT_KEY)
                   .correlate(None).scalar_subquery())


@lru_cache(maxsize=KEPT_STATEMENTS)
def _opening(filters: Filters) -> Any:
    """SQL, for the patient whose public id `patients.PATIENT_KEY` is: their reach
    (`patients.by_id_with_reach`) and the counts `_counted` gives, in one statement."""
    counts = select(*_count_columns(filters, _KEY_OF_PATIENT)).subquery("counts")
    return patients.by_id_with_reach(counts.c.vitals, counts.c.measured, counts.c.observed,
                                     counts.c.in_sessions).join(counts, true())


def _count_columns(filters: Filters, patient_pk: Any) -> list[Any]:
    """SQL: the four counts of `_counted` (vitals, measured, observed, in_sessions) as columns,
    for the patient whose key `patient_pk` is."""
    vitals = _chart_count(_kept_groups(filters, VitalSigns), filters, patient_pk)
    measured = (select(func.count()).select_from(Measure).where(
        *_measure_conditions(patient_pk, filters)) if _measure_kinds(filters) else None)
    observed = (select(func.count()).select_from(StatusObservation).where(
        *_observed_conditions(patient_pk, filters)) if _observed_codes(filters) else None)
    of_patient = _sessions_of(patient_pk)
    parts = [select(func.coalesce(func.sum(query.subquery().c.n), 0)).scalar_subquery()
             for query in (_reading_counts(of_patient, filters),
                           _score_counts(of_patient, filters)) if query is not None]
    in_sessions = sum(parts[1:], parts[0]) if parts else None
    return [(literal(0) if part is None else part if part is in_sessions
             else part.scalar_subquery()).label(name)
            for name, part in (("vitals", vitals), ("measured", measured),
                               ("observed", observed), ("in_sessions", in_sessions))]


def _chart_count(kept: tuple[_Group, ...], filters: Filters, patient_pk: Any
                 ) -> Select[Any] | None:
    """SQL, for the patient whose key `patient_pk` is: how many of the chart's vital-sign
    Observations pass, from the patient's tally when no date bounds the search (however long
    the chart), else counted over the rows in range; None if none can."""
    if not kept:
        return None
    if not (filters.dates or filters.updated):
        tally = VitalSignsTally
        return select(func.coalesce(func.sum(sum(
            (getattr(tally, _CHART_TALLIED[g.suffix]) for g in kept[1:]),
            getattr(tally, _CHART_TALLIED[kept[0].suffix]))), 0)).where(
                tally.patient_pk == patient_pk)
    return select(func.coalesce(func.sum(_entries_of(kept, VitalSigns)), 0)).where(
        VitalSigns.patient_pk == patient_pk,
        *filters.sql(VitalSigns.measured_at, VitalSigns.updated_at),
        _any_present(kept, VitalSigns))


@lru_cache(maxsize=KEPT_STATEMENTS)
def _head(filters: Filters, model: Any) -> Any:
    """SQL: the first `TAKE` of a run's vital-signs rows that hold an Observation that passes, in
    the list's order (None if none can); the run is the chart's rows of the patient `PATIENT_PK`
    (model VitalSigns) or the chair readings of the session `SESSION_PK` (SessionReading)."""
    kept = _kept_groups(filters, model)
    if not kept:
        return None
    moment = VitalSigns.measured_at if model is VitalSigns else SessionReading.taken_at
    return (select(*built_columns(model))
            .where(OF_PATIENT if model is VitalSigns else OF_SESSION,
                   *filters.sql(moment, model.updated_at), _any_present(kept, model))
            .order_by(moment, model.pk).limit(TAKE))


def _sessions_of(patient_pk: Any) -> Any:
    """SQL: the keys of the patient's sessions, as a subquery rather than a list of keys, so a
    statement using it reads the same for any number of sessions (compiled once)."""
    return select(TreatmentSession.pk).where(TreatmentSession.patient_pk == patient_pk)


@lru_cache(maxsize=KEPT_STATEMENTS)
def _kept_groups(filters: Filters, model: Any) -> tuple[_Group, ...]:
    """The vital-sign Observations (by group) that pass the filters and that rows of this table
    (VitalSigns or SessionReading) can be (worked out once per filters: a search's every
    session's run asks)."""
    return tuple(g for g in _passing_groups(filters) if g.kept_by(model))


def _passing_groups(filters: Filters) -> list[_Group]:
    """The vital-sign Observations (by group) that pass the category and code parameters."""
    return [g for g in GROUPS if filters.keeps_codes(g.codes)] if _vitals_pass(filters) else []


def _vitals_pass(filters: Filters) -> bool:
    """Whether vital-sign Observations (category vital-signs) pass the token parameters."""
    return filters.keeps_tokens({"category": [mapping.VITAL_SIGNS]})


def _reading_segment(db: Session, session_pk: int, session_id: object, patient_id: object,
                     filters: Filters, total: int) -> _Segment:
    """A session's chair readings, counted already."""
    return _vital_segment(
        db, SessionReading, filters,
        lambda row: mapping.session_reading_observations(row, patient_id, session_id), total,
        {"session_pk": session_pk})


@cache
def built_columns(model: Any) -> tuple[Any, ...]:
    """The columns of a vital-signs row (chart or chair) that its Observations are built from
    (`mapping.vital_observations`): read as plain rows, a page's rows cost a fraction of loading
    them as records."""
    moment = VitalSigns.measured_at if model is VitalSigns else SessionReading.taken_at
    values = [f for f in ("systolic_mmhg", "diastolic_mmhg", *(s[0] for s in mapping.VITAL_SERIES),
                          "device") if hasattr(model, f)]
    return (model.pk, model.id, moment, model.updated_at, model.status,
            *(getattr(model, f) for f in values))


@cache
def _entries_of(groups: tuple[_Group, ...], model: Any) -> Any:
    """SQL: how many Observations one row is, among the groups that pass (built once per
    combination: a search is made of these)."""
    return sum((case((g.present(model), 1), else_=0) for g in groups[1:]),
               case((groups[0].present(model), 1), else_=0))


@cache
def _any_present(groups: tuple[_Group, ...], model: Any) -> Any:
    """SQL: the row is at least one of the groups' Observations."""
    return or_(*[g.present(model) for g in groups])


def _reading_counts(session_pks: Any, filters: Filters) -> Any:
    """SQL: (session_pk, n) for each of these sessions, n how many of its readings' Observations
    pass: from the tallies when no date bounds the search (however long the history), else
    counted over the rows in range; None if no reading's Observation can pass."""
    kept = _kept_groups(filters, SessionReading)
    if not kept:
        return None
    if not (filters.dates or filters.updated):
        tallies = reading_tally.summed(session_pks).subquery()
        return select(tallies.c.session_pk,
                      sum((tallies.c[_TALLIED[g.suffix]] for g in kept[1:]),
                          tallies.c[_TALLIED[kept[0].suffix]]).label("n"))
    return (select(SessionReading.session_pk, func.sum(_entries_of(kept, SessionReading)).label("n"))
            .where(SessionReading.session_pk.in_(session_pks),
                   *filters.sql(SessionReading.taken_at, SessionReading.updated_at),
                   _any_present(kept, SessionReading))
            .group_by(SessionReading.session_pk))


def _vital_segment(db: Session, model: Any, filters: Filters,
                   build: Callable[[Any], list[Resource]], total: int, params: dict[str, Any]
                   ) -> _Segment:
    """A run of vital-signs rows, counted already: a patient's chart (model VitalSigns, `params`
    binding `patient_pk`) or a session's chair readings (SessionReading, `session_pk`). A page
    from the run's start reads its first rows (`_head`); one further in, the rows from the one
    that holds its first Observation (`_from_row`): either is one statement kept for reuse."""
    if not total or not _kept_groups(filters, model):
        return _NONE_PASS

    def passing(rows: Sequence[Any]) -> Iterator[Resource]:
        # built row by row as the page takes them: a row is up to seven Observations, and the
        # rows read to be sure of `take` of them build several times that many
        suffixes = {g.suffix for g in _kept_groups(filters, model)}
        return (r for row in rows for r in build(row) if r["id"].rsplit("-", 1)[1] in suffixes)

    def rows_of(skip: int, take: int) -> _Kept:
        if not skip:  # every row is at least one Observation: `take` rows are enough
            return _Kept(_head(filters, model), {**params, "take": take},
                         lambda rows: list(islice(passing(rows), take)))

        def from_row(rows: Sequence[Any]) -> list[Resource]:
            # the first row holds the page's first Observation, `before` of the run's before it
            skip_in_row = skip - int(rows[0].before) if rows else 0
            return list(islice(passing(rows), skip_in_row, skip_in_row + take))

        return _Kept(_from_row(filters, model),
                     {**params, "skip": skip, "reach": skip + 1, "take": take}, from_row)

    return _Segment(total, rows_of)


@lru_cache(maxsize=KEPT_STATEMENTS)
def _from_row(filters: Filters, model: Any) -> Any:
    """SQL: `TAKE` of a run's rows (as `_head` reads them) from the one that holds the
    Observation `SKIP` places down the run, each with how many Observations of the run come
    before that row (`before`); none past the run's end. Every row is at least one Observation,
    so the first `REACH` (SKIP + 1) rows hold it: a running sum of their counts over those alone
    finds it, and the page's rows alone are built, not every row before them."""
    kept = _kept_groups(filters, model)
    moment = VitalSigns.measured_at if model is VitalSigns else SessionReading.taken_at
    conditions = (OF_PATIENT if model is VitalSigns else OF_SESSION,
                  *filters.sql(moment, model.updated_at), _any_present(kept, model))
    rows = (select(moment.label("at"), model.pk.label("pk"), _entries_of(kept, model).label("n"))
            .where(*conditions).order_by(moment, model.pk).limit(REACH).subquery())
    running = select(rows, func.sum(rows.c.n).over(order_by=(rows.c.at, rows.c.pk))
                     .label("through")).subquery()
    start = (select(running.c.at, running.c.pk, (running.c.through - running.c.n).label("before"))
             .where(running.c.through > SKIP).order_by(running.c.through).limit(1).subquery())
    return (select(*built_columns(model), start.c.before)
            .join(start, or_(moment > start.c.at, and_(moment == start.c.at,
                                                       model.pk >= start.c.pk)))
            .where(*conditions).order_by(moment, model.pk).limit(TAKE))


def _row_holding(db: Session, rows: Any, in_order: Callable[[Any], tuple[Any, ...]],
                 skip: int, params: dict[str, Any] | None = None) -> Any:
    """The row (`_sort_columns`, then how many Observations come before it) holding the
    Observation `skip` places down the rows in this order, or None past their end. Every row is
    at least one Observation, so the first skip + 1 rows hold it: a running sum of their counts
    over those alone finds it."""
    head = select(rows).order_by(*in_order(rows)).limit(skip + 1).subquery()
    running = select(head, func.sum(head.c.n).over(order_by=in_order(head))
                     .label("through")).subquery()
    return db.execute(select(running.c.at, running.c.k0, running.c.k1, running.c.k2,
                             running.c.pk, running.c.through - running.c.n)
                      .where(running.c.through > skip).order_by(running.c.through)
                      .limit(1), params).one_or_none()


def _measure_kinds(filters: Filters) -> list[str]:
    """The instruments whose measures' Observations pass the filters' code and category (none
    pass a `_lastUpdated` search: they carry no `meta.lastUpdated`)."""
    if filters.updated or not filters.keeps_tokens({"category": [measure_map.SURVEY]}):
        return []
    return [key for key, form in instruments.instruments().items()
            if filters.keeps_codes([(form.total_code.system, form.total_code.code)])]


def _one_of_literals(column: Any, values: Sequence[str]) -> Any:
    """SQL: the column holds one of these values, each its own parameter. The kinds a search
    asks for are few and known when the statement is built, so the statement kept for reuse
    holds them as they are, rather than as a list the driver's statement is rewritten for at
    every run (an expanding parameter)."""
    return column.in_([literal(v, column.type) for v in values]) if values else false()


def _measure_conditions(patient_pk: Any, filters: Filters) -> list[Any]:
    return [Measure.patient_pk == patient_pk,
            _one_of_literals(Measure.instrument, _measure_kinds(filters)),
            *filters.sql(Measure.taken_at, Measure.updated_at)]


def _measure_segment(patient: Whose, filters: Filters, total: int) -> _Segment:
    """The measures' Observations, counted already (`_counted`), paged in SQL as `_vital_segment`
    pages: their code is their instrument's total code, their category survey, their date when
    taken."""
    return _one_a_row(_measure_rows(filters), patient, total, measure_map.observation)


def _one_a_row(statement: Any, patient: Whose, total: int,
               build: Callable[[Any, str], Resource]) -> _Segment:
    """A run of one Observation a row, counted already: `statement` reads `TAKE` of the rows of
    the patient `PATIENT_PK` after the first `SKIP`, and `build` makes a row's Observation."""
    if not total:
        return _NONE_PASS
    pid = str(patient.id)

    def rows_of(skip: int, take: int) -> _Kept:
        return _Kept(statement, {"patient_pk": patient.pk, "skip": skip, "take": take},
                     lambda rows: [build(row, pid) for row in rows])

    return _Segment(total, rows_of)


@lru_cache(maxsize=KEPT_STATEMENTS)
def _measure_rows(filters: Filters) -> Any:
    """SQL, for the patient `PATIENT_PK`: the measures whose Observations pass, in the list's
    order, `TAKE` of them after the first `SKIP`."""
    return (select(*measure_map.OBSERVATION_COLUMNS)
            .where(*_measure_conditions(PATIENT_PK, filters))
            .order_by(Measure.taken_at, Measure.pk).offset(SKIP).limit(TAKE))


def _observed_codes(filters: Filters) -> list[str]:
    """The LOINC codes whose pregnancy and breastfeeding Observations pass the filters' code
    and category."""
    return [code for code in sorted(watched_codes())
            if filters.keeps_codes([(mapping.LOINC, code)])
            and filters.keeps_tokens({"category": [mapping.status_category(code)]})]


def _observed_conditions(patient_pk: Any, filters: Filters) -> list[Any]:
    return [StatusObservation.patient_pk == patient_pk,
            _one_of_literals(StatusObservation.code, _observed_codes(filters)),
            *filters.sql(StatusObservation.taken_at, StatusObservation.updated_at)]


def _observed_segment(patient: Whose, filters: Filters, total: int) -> _Segment:
    """The pregnancy and breastfeeding Observations, counted already (`_counted`), paged in SQL
    as the measures are."""
    return _one_a_row(_observed_rows(filters), patient, total, mapping.status_observation)


@lru_cache(maxsize=KEPT_STATEMENTS)
def _observed_rows(filters: Filters) -> Any:
    """SQL, for the patient `PATIENT_PK`: the pregnancy and breastfeeding observations whose
    Observations pass, in the list's order, `TAKE` of them after the first `SKIP`."""
    return (select(*mapping.STATUS_COLUMNS)
            .where(*_observed_conditions(PATIENT_PK, filters))
            .order_by(StatusObservation.taken_at, StatusObservation.pk).offset(SKIP).limit(TAKE))


def _score_kinds(filters: Filters) -> list[str]:
    """The session scores (by kind) whose Observations pass the category and code parameters."""
    if not filters.keeps_tokens({"category": [SURVEY]}):
        return []
    return [kind for kind, (code, _) in mapping.SCALE_CODES.items()
            if filters.keeps_codes([(mapping.SCALE_SYSTEM, code)])]


def _score_conditions(filters: Filters) -> list[Any]:
    """SQL: the session events whose score Observations pass the filters (`_id` aside)."""
    return [_one_of_literals(SessionEvent.kind, _score_kinds(filters)),
            *filters.sql(SessionEvent.at, SessionEvent.updated_at)]


def _score_counts(session_pks: Any, filters: Filters) -> Any:
    """SQL: (session_pk, n) for each of these sessions, n how many of its score Observations
    pass; None if none can."""
    if not _score_kinds(filters):
        return None
    return (select(SessionEvent.session_pk, func.count().label("n"))
            .where(SessionEvent.session_pk.in_(session_pks), *_score_conditions(filters))
            .group_by(SessionEvent.session_pk))


def _score_segment(db: Session, session_pk: int, session_id: object, patient_id: object,
                   filters: Filters, total: int) -> _Segment:
    """A session's scores that pass, in time order; only a page's are read and built, by one
    statement kept for reuse (`_session_scores`)."""
    def rows_of(skip: int, take: int) -> _Kept:
        return _Kept(_session_scores(filters), {"session_pk": session_pk, "skip": skip,
                                                "take": take},
                     lambda rows: [mapping.scale_observation(event, patient_id, session_id)
                                   for event in rows])

    return _Segment(total, rows_of)


@lru_cache(maxsize=KEPT_STATEMENTS)
def _session_scores(filters: Filters) -> Any:
    """SQL, for the session `SESSION_PK`: the columns of its scores whose Observations pass
    (`mapping.scale_observation`), in time order, `TAKE` of them after the first `SKIP`."""
    return (select(SessionEvent.id, SessionEvent.kind, SessionEvent.at, SessionEvent.value,
                   SessionEvent.updated_at)
            .where(SessionEvent.session_pk == SESSION_PK, *_score_conditions(filters))
            .order_by(SessionEvent.at, SessionEvent.pk).offset(SKIP).limit(TAKE))


def _search_by_date(db: Session, patient: Whose, filters: Filters, offset: int, count: int,
                    newest_first: bool, total: int, start: "_Start | None") -> SearchPage:
    """A page sorted by date, read from where it starts in each source: every row is at least
    one Observation, so count + 1 rows of each source from the page's start hold the page (the
    first page starts at the top; a later one at its cursor's row, or where the database finds
    it, `_sorted_start`). Ties keep the list's order (source, then time and key within it), as a
    stable sort of the whole list would. `total`: how many pass (`_counted`)."""
    if not count or offset >= total:
        return SearchPage([], total)
    if start is None and offset:
        start = _sorted_start(db, patient, filters, offset, newest_first)
    order = _Order(newest_first, start)
    take = count + 1
    entries = [*_top_vitals(db, patient, filters, take, order),
               *_top_measures(db, patient, filters, take, order),
               *_top_observed(db, patient, filters, take, order),
               *_top_readings(db, patient, filters, take, order),
               *_top_scores(db, patient, filters, take, order)]
    entries.sort(key=lambda e: e[0])
    if newest_first:  # newest first, ties still in list order
        entries.sort(key=lambda e: e[0][0], reverse=True)
    skip = offset - order.start.before if order.start else 0
    page = [entry for _, entry in entries[skip:skip + count]]
    built = _built_rows(db, patient, [e.row for e in page if e.row is not None])
    following = skip + count
    return SearchPage([built[e.id] if e.resource is None else e.resource for e in page], total,
                _cursor_to(entries, following, newest_first)
                if offset + count < total and following < len(entries) else None)


def _cursor_to(entries: Sequence["_Sorted"], index: int, newest_first: bool) -> str:
    """The cursor naming the entry at `index` of a merged page: its row's sort key, and how many
    of the row's Observations come before it."""
    at, place, pk, _ = entries[index][0]
    within = 0
    while index - within > 0 and entries[index - within - 1][0][:3] == (at, place, pk):
        within += 1
    places = (*place, 0, 0)[:3]
    return encode_cursor(["-" if newest_first else "+", at.isoformat(),
                          *[str(p) for p in places], str(pk), str(within)])


def _start_at(cursor: str, newest_first: bool, offset: int) -> "_Start":
    """The start a cursor names (`offset` being the place of the Observation it names)."""
    parts = decode_cursor(cursor, "_cursor", CURSOR_HINT)
    try:
        if len(parts) != 7 or parts[0] != ("-" if newest_first else "+"):
            raise ValueError("not a cursor of this order")
        at = datetime.fromisoformat(parts[1])
        place = (int(parts[2]), int(parts[3]), int(parts[4]))
        pk, within = int(parts[5]), int(parts[6])
        if at.tzinfo is None or within < 0 or within > offset:
            raise ValueError("not a place this server gives")
    except ValueError:
        raise invalid("_cursor", "is not a cursor this server gave", CURSOR_HINT) from None
    return _Start(at, place, pk, offset - within)


@dataclass(frozen=True)
class _Start:
    """The row a sorted page starts in: its sort key and how many Observations come before it."""

    at: datetime
    # the source's place in the list (chart 0, measures 1 0, pregnancy and breastfeeding 1 1,
    # chair 2)
    place: tuple[int, int, int]
    pk: int
    before: int


@dataclass(frozen=True)
class _Order:
    """A date order and where in it the page starts (None: at the top)."""

    newest_first: bool
    start: _Start | None

    def by(self, moment: Any) -> Any:
        """SQL: the rows of a source in this order of time."""
        return moment.desc() if self.newest_first else moment

    def from_start(self, moment: Any, place: tuple[Any, Any, Any], pk: Any) -> list[Any]:
        """SQL: the rows of a source from the page's start on, in this order (none: all)."""
        if self.start is None:
            return []
        beyond = moment < self.start.at if self.newest_first else moment > self.start.at
        return [or_(beyond, and_(moment == self.start.at,
                                 _at_least((*place, pk), (*self.start.place, self.start.pk))))]


def _at_least(values: tuple[Any, ...], bounds: tuple[Any, ...]) -> Any:
    """SQL: `values >= bounds` compared in order (a constant part is decided here)."""
    value, bound = values[0], bounds[0]
    if len(values) == 1:
        return value >= bound
    rest = _at_least(values[1:], bounds[1:])
    if isinstance(value, int):  # this source's place: known without asking the database
        return true() if value > bound else false() if value < bound else rest
    return or_(value > bound, and_(value == bound, rest))


def _session_places(patient_pk: Any) -> Any:
    """SQL: the patient's treatment sessions with their place in the list (check-in order)."""
    return (select(TreatmentSession.pk.label("pk"), (func.row_number().over(
        order_by=(TreatmentSession.checked_in_at, TreatmentSession.pk)) - 1).label("place"))
        .where(TreatmentSession.patient_pk == patient_pk).subquery())


def _sort_columns(moment: Any, place: tuple[Any, Any, Any], pk: Any, entries: Any
                  ) -> list[Any]:
    """SQL: a source's rows as the sorted list orders them, with how many Observations each is."""
    return [moment.label("at"), *[(literal(p) if isinstance(p, int) else p).label(f"k{n}")
                                  for n, p in enumerate(place)],
            pk.label("pk"), (literal(entries) if isinstance(entries, int) else entries).label("n")]


def _sorted_start(db: Session, patient: Whose, filters: Filters, offset: int,
                  newest_first: bool) -> _Start | None:
    """Where the sorted page `offset` Observations down starts: the database lists every
    source's rows as (time, place, key, Observations) in the page's order, and a running sum
    over them finds the row (`_row_holding`; None: past the end). The rows above a time the
    sessions' tallies place above the page are counted, not listed (`_passed`)."""
    passed = _passed(db, patient, filters, offset, newest_first)
    bound, before_bound, beyond = passed if passed is not None else (None, 0, None)

    def from_bound(moment: Any) -> list[Any]:
        """SQL: the rows from the bound on, up to the next boundary (which holds the page)."""
        window = []
        if bound is not None:
            window.append(moment <= bound if newest_first else moment >= bound)
        if beyond is not None:
            window.append(moment > beyond if newest_first else moment < beyond)
        return window

    branches = []
    kept = _kept_groups(filters, VitalSigns)
    if kept:
        moment = VitalSigns.measured_at
        branches.append(select(*_sort_columns(moment, (0, 0, 0), VitalSigns.pk,
                                              _entries_of(kept, VitalSigns)))
                        .where(VitalSigns.patient_pk == patient.pk,
                               *filters.sql(moment, VitalSigns.updated_at),
                               _any_present(kept, VitalSigns), *from_bound(moment)))
    if _measure_kinds(filters):
        branches.append(select(*_sort_columns(Measure.taken_at, (1, 0, 0), Measure.pk, 1))
                        .where(*_measure_conditions(patient.pk, filters),
                               *from_bound(Measure.taken_at)))
    if _observed_codes(filters):
        moment = StatusObservation.taken_at
        branches.append(select(*_sort_columns(moment, (1, 1, 0), StatusObservation.pk, 1))
                        .where(*_observed_conditions(patient.pk, filters), *from_bound(moment)))
    places = _session_places(patient.pk)
    kept = _kept_groups(filters, SessionReading)
    if kept:
        moment = SessionReading.taken_at
        branches.append(select(*_sort_columns(moment, (2, places.c.place, 0), SessionReading.pk,
                                              _entries_of(kept, SessionReading)))
                        .join(places, SessionReading.session_pk == places.c.pk)
                        .where(*filters.sql(moment, SessionReading.updated_at),
                               _any_present(kept, SessionReading), *from_bound(moment)))
    if _score_kinds(filters):
        branches.append(select(*_sort_columns(SessionEvent.at, (2, places.c.place, 1),
                                              SessionEvent.pk, 1))
                        .join(places, SessionEvent.session_pk == places.c.pk)
                        .where(*_score_conditions(filters), *from_bound(SessionEvent.at)))
    if not branches:
        return None
    def in_order(rows: Any) -> tuple[Any, ...]:
        return (rows.c.at.desc() if newest_first else rows.c.at, rows.c.k0, rows.c.k1,
                rows.c.k2, rows.c.pk)

    found = _row_holding(db, union_all(*branches).subquery(), in_order, offset - before_bound)
    if found is None:
        return None
    at, k0, k1, k2, pk, before = found
    return _Start(at, (int(k0), int(k1), int(k2)), int(pk), before_bound + int(before))


def _passed(db: Session, patient: Whose, filters: Filters, offset: int, newest_first: bool
            ) -> tuple[datetime | None, int, datetime | None] | None:
    """A time above which (later, newest first; earlier, oldest first) at most `offset` of the
    sorted list's Observations lie, as close to the page as a session's start (its end, oldest
    first) can be, how many lie there, and the next such boundary further down, above which more
    than `offset` lie (None: the list's end), so the page starts between the two. A search over
    the sessions' boundaries, each step one count in which whole sessions are counted from their
    tallies. None when a date bounds the search (a tally counts a whole session)."""
    if filters.dates or filters.updated or not offset:
        return None
    tallies = db.execute(_TALLIES, {"patient_pk": patient.pk}).all()
    boundaries = sorted({t.first_at if newest_first else t.last_at for t in tallies},
                        reverse=not newest_first)
    kept = _kept_groups(filters, SessionReading)
    entries = {t.session_pk: sum(getattr(t, _TALLIED[g.suffix]) for g in kept) for t in tallies}

    def above(moment: Any, bound: datetime) -> Any:
        return moment > bound if newest_first else moment < bound

    def counted(bound: datetime) -> int:
        """How many Observations lie above the bound."""
        whole = {t.session_pk for t in tallies if (t.first_at > bound if newest_first
                                                   else t.last_at < bound)}
        astride = [t.session_pk for t in tallies if t.session_pk not in whole
                   and (t.last_at > bound if newest_first else t.first_at < bound)]
        parts = []
        vitals = _kept_groups(filters, VitalSigns)
        if vitals:
            parts.append(select(func.coalesce(func.sum(_entries_of(vitals, VitalSigns)), 0))
                         .where(VitalSigns.patient_pk == patient.pk,
                                _any_present(vitals, VitalSigns),
                                above(VitalSigns.measured_at, bound)))
        if _measure_kinds(filters):
            parts.append(select(func.count()).select_from(Measure).where(
                *_measure_conditions(patient.pk, filters), above(Measure.taken_at, bound)))
        if _observed_codes(filters):
            parts.append(select(func.count()).select_from(StatusObservation).where(
                *_observed_conditions(patient.pk, filters),
                above(StatusObservation.taken_at, bound)))
        if _score_kinds(filters):
            parts.append(select(func.count()).select_from(SessionEvent).where(
                SessionEvent.session_pk.in_(_sessions_of(patient.pk)), *_score_conditions(filters),
                above(SessionEvent.at, bound)))
        if kept and astride:
            parts.append(select(func.coalesce(func.sum(_entries_of(kept, SessionReading)), 0))
                         .where(SessionReading.session_pk.in_(astride),
                                _any_present(kept, SessionReading),
                                above(SessionReading.taken_at, bound)))
        sums = [part.scalar_subquery() for part in parts]
        listed = int(db.execute(select(sum(sums[1:], sums[0]))).scalar_one()) if sums else 0
        return listed + sum(entries[pk] for pk in whole)

    # the boundaries run from the bottom of the list up: more lie above the first than the
    # last, so the first with few enough above it is the one nearest the page
    low, high, first_few = 0, len(boundaries) - 1, len(boundaries)
    counts: dict[int, int] = {}
    while low <= high:
        middle = (low + high) // 2
        counts[middle] = counted(boundaries[middle])
        if counts[middle] <= offset:
            first_few, high = middle, middle - 1
        else:
            low = middle + 1
    if not boundaries:
        return None
    beyond = boundaries[first_few - 1] if first_few > 0 else None
    if first_few == len(boundaries):  # even the last has too many above: the page lies above it
        return None, 0, beyond
    return boundaries[first_few], counts[first_few], beyond


# A sorted entry: (time, source's place in the list, row key, group's place) and the entry.
_Sorted = tuple[tuple[Any, ...], "_Entry"]


def _light_entries(source: str, place: tuple[int, ...], rows: Sequence[Any],
                   groups: Sequence[_Group]) -> Iterator[_Sorted]:
    for row in rows:
        base, key = str(row.id), (source, row.pk)
        for number, group in enumerate(GROUPS):
            if group in groups and any(getattr(row, f, None) is not None for f in group.fields):
                yield ((row.at, place, row.pk, number),
                       _Entry(f"{base}-{group.suffix}", group.codes, row.at, row.updated_at,
                              None, key))


# The statements of a sorted page: each source's first `TAKE` rows in the page's order, for the
# patient `PATIENT_PK`. Built once per filters and order for a page at the top of the list (most
# sorted searches ask for the newest few); a page further down has its own start in them.
Top = Callable[[Filters, "_Order"], Any]


def _top_statement(build: Top, filters: Filters, order: "_Order") -> Any:
    """The statement `build` makes for these filters and order, kept for reuse when the page
    starts at the top."""
    return (_top_of_list(build, filters, order.newest_first) if order.start is None
            else build(filters, order))


@lru_cache(maxsize=KEPT_STATEMENTS)
def _top_of_list(build: Top, filters: Filters, newest_first: bool) -> Any:
    return build(filters, _Order(newest_first, None))


def _vitals_from_top(filters: Filters, order: "_Order") -> Any:
    kept = _kept_groups(filters, VitalSigns)
    moment = VitalSigns.measured_at
    return (select(*_columns(VitalSigns, moment))
            .where(OF_PATIENT, *filters.sql(moment, VitalSigns.updated_at),
                   _any_present(kept, VitalSigns),
                   *order.from_start(moment, (0, 0, 0), VitalSigns.pk))
            .order_by(order.by(moment), VitalSigns.pk).limit(TAKE))


def _measures_from_top(filters: Filters, order: "_Order") -> Any:
    return (select(Measure).where(*_measure_conditions(PATIENT_PK, filters),
                                  *order.from_start(Measure.taken_at, (1, 0, 0), Measure.pk))
            .order_by(order.by(Measure.taken_at), Measure.pk).limit(TAKE))


def _observed_from_top(filters: Filters, order: "_Order") -> Any:
    moment = StatusObservation.taken_at
    return (select(*mapping.STATUS_COLUMNS)
            .where(*_observed_conditions(PATIENT_PK, filters),
                   *order.from_start(moment, (1, 1, 0), StatusObservation.pk))
            .order_by(order.by(moment), StatusObservation.pk).limit(TAKE))


def _readings_from_top(filters: Filters, order: "_Order") -> Any:
    # of the sessions `SESSION_PKS` alone (`_sessions_holding_top` chooses them)
    kept = _kept_groups(filters, SessionReading)
    moment = SessionReading.taken_at
    places = _session_places(PATIENT_PK)
    return (select(places.c.place, *_columns(SessionReading, moment))
            .join(places, SessionReading.session_pk == places.c.pk)
            .where(SessionReading.session_pk.in_(SESSION_PKS),
                   *filters.sql(moment, SessionReading.updated_at),
                   _any_present(kept, SessionReading),
                   *order.from_start(moment, (2, places.c.place, 0), SessionReading.pk))
            .order_by(order.by(moment), places.c.place, SessionReading.pk).limit(TAKE))


def _scores_from_top(filters: Filters, order: "_Order") -> Any:
    places = _session_places(PATIENT_PK)
    return (select(SessionEvent, places.c.place, TreatmentSession.id)
            .join(places, SessionEvent.session_pk == places.c.pk)
            .join(TreatmentSession, TreatmentSession.pk == SessionEvent.session_pk)
            .where(*_score_conditions(filters),
                   *order.from_start(SessionEvent.at, (2, places.c.place, 1), SessionEvent.pk))
            .order_by(order.by(SessionEvent.at), places.c.place, SessionEvent.pk).limit(TAKE))


# The sessions whose chair readings a statement reads, given when it runs.
SESSION_PKS: Any = bindparam("session_pks", expanding=True)
# The patient's sessions' tallies (`PATIENT_PK`).
_TALLIES = reading_tally.summed(_sessions_of(PATIENT_PK))


def _top_vitals(db: Session, patient: Whose, filters: Filters, take: int, order: _Order
                ) -> Iterator[_Sorted]:
    kept = _kept_groups(filters, VitalSigns)
    if not kept:
        return iter(())
    rows = db.execute(_top_statement(_vitals_from_top, filters, order),
                      {"patient_pk": patient.pk, "take": take}).all()
    return _light_entries("chart", (0,), rows, kept)


def _top_measures(db: Session, patient: Whose, filters: Filters, take: int, order: _Order
                  ) -> Iterator[_Sorted]:
    if not _measure_kinds(filters):
        return iter(())
    rows = db.execute(_top_statement(_measures_from_top, filters, order),
                      {"patient_pk": patient.pk, "take": take}).scalars()
    pid = str(patient.id)
    return (((m.taken_at, (1,), m.pk, 0), _resource_entry(measure_map.observation(m, pid)))
            for m in rows)


def _top_observed(db: Session, patient: Whose, filters: Filters, take: int, order: _Order
                  ) -> Iterator[_Sorted]:
    if not _observed_codes(filters):
        return iter(())
    rows = db.execute(_top_statement(_observed_from_top, filters, order),
                      {"patient_pk": patient.pk, "take": take}).all()
    pid = str(patient.id)
    return (((o.taken_at, (1, 1), o.pk, 0), _resource_entry(mapping.status_observation(o, pid)))
            for o in rows)


def _top_readings(db: Session, patient: Whose, filters: Filters, take: int, order: _Order
                  ) -> Iterator[_Sorted]:
    """The first `take` chair readings in the page's order, read from the sessions that can hold
    them (`_sessions_holding_top`), not sorted out of every reading the patient has."""
    kept = _kept_groups(filters, SessionReading)
    if not kept:
        return
    statement = _top_statement(_readings_from_top, filters, order)

    def top(session_pks: list[int]) -> list[Any]:
        return list(db.execute(statement, {"patient_pk": patient.pk, "take": take,
                                           "session_pks": session_pks}).all())

    for row in _sessions_holding_top(db, patient, take, order, top):
        yield from _light_entries("chair", (2, row.place, 0), [row], kept)


def _sessions_holding_top(db: Session, patient: Whose, take: int, order: _Order,
                          top: Callable[[list[int]], list[Any]]) -> list[Any]:
    """`top` of the fewest sessions that hold the first `take` readings in the page's order.

    Sessions are taken by their newest reading (oldest, for oldest first) from their tallies,
    one, then two, four...: once `take` rows are found and the next session's readings all come
    after the last of them, no later session can hold one of the page's."""
    tallies = list(db.execute(_TALLIES, {"patient_pk": patient.pk}).all())
    if order.start is not None:  # sessions wholly before the page's start hold none of it
        at = order.start.at
        tallies = [t for t in tallies if (t.first_at <= at if order.newest_first
                                          else t.last_at >= at)]
    if order.newest_first:
        tallies.sort(key=lambda t: t.last_at, reverse=True)
    else:
        tallies.sort(key=lambda t: t.first_at)
    rows: list[Any] = []
    chosen = 1
    while tallies:
        rows = top([t.session_pk for t in tallies[:chosen]])
        if chosen >= len(tallies):
            break
        following = tallies[chosen]
        if len(rows) == take and (following.last_at < rows[-1].at if order.newest_first
                                  else following.first_at > rows[-1].at):
            break
        chosen *= 2
    return rows


def _top_scores(db: Session, patient: Whose, filters: Filters, take: int, order: _Order
                ) -> Iterator[_Sorted]:
    """The first `take` session scores that pass, in the page's order, built alone."""
    if not _score_kinds(filters):
        return
    found = db.execute(_top_statement(_scores_from_top, filters, order),
                       {"patient_pk": patient.pk, "take": take}).all()
    for event, place, session_id in found:
        entry = _resource_entry(mapping.scale_observation(event, patient.id, session_id))
        yield (entry.at, (2, place, 1), event.pk, 0), entry


def _search_light(db: Session, patient: Whose, filters: Filters, offset: int, count: int,
                  newest_first: bool | None) -> tuple[list[Resource], int]:
    """Every Observation read as a few columns, filtered, optionally sorted by date (stable:
    ties keep the list's order), and only the page built."""
    vitals_pass = _vitals_pass(filters)
    kept = [entry for entry in _entries(db, patient)
            if (vitals_pass if entry.resource is None else filters.keeps_tokens(entry.resource))
            and filters.keeps(entry.id, entry.at, entry.updated, entry.codes)]
    if newest_first is not None:
        kept.sort(key=lambda entry: entry.at, reverse=newest_first)
    page = kept[offset:offset + count]
    built = _built_rows(db, patient, [e.row for e in page if e.row is not None])
    return [built[e.id] if e.resource is None else e.resource for e in page], len(kept)


@dataclass(slots=True)
class _Entry:
    """One Observation as far as a search by id needs it."""

    id: str
    codes: Sequence[tuple[str, str]]
    at: datetime
    updated: datetime | None
    resource: Resource | None = None
    row: tuple[str, int] | None = None  # (source, pk) of a vital-signs row, built per page


def _light_rows(source: str, rows: Sequence[Any]) -> Iterator[_Entry]:
    for row in rows:
        base, key = str(row.id), (source, row.pk)
        for group in GROUPS:
            if any(getattr(row, f, None) is not None for f in group.fields):
                yield _Entry(f"{base}-{group.suffix}", group.codes, row.at, row.updated_at,
                             None, key)


def _columns(model: Any, moment: Any) -> list[Any]:
    fields = {f for g in GROUPS for f in g.fields if hasattr(model, f)}
    return [model.pk, model.id, moment.label("at"), model.updated_at,
            *[getattr(model, f) for f in sorted(fields)]]


def _resource_entry(resource: Resource) -> _Entry:
    meta = resource.get("meta")
    return _Entry(resource["id"], [(c.get("system", ""), c.get("code", ""))
                                   for c in resource["code"].get("coding", [])],
                  datetime.fromisoformat(resource["effectiveDateTime"]),
                  datetime.fromisoformat(meta["lastUpdated"]) if meta else None,
                  resource=resource)


def _entries(db: Session, patient: Whose) -> Iterator[_Entry]:
    pid = patient.id
    yield from _light_rows("chart", db.execute(
        select(*_columns(VitalSigns, VitalSigns.measured_at))
        .where(VitalSigns.patient_pk == patient.pk)
        .order_by(VitalSigns.measured_at, VitalSigns.pk)).all())
    yield from (_resource_entry(measure_map.observation(m, str(pid)))
                for m in measures.measures_of(db=db, patient_pk=patient.pk, include_errors=True))
    yield from (_resource_entry(mapping.status_observation(o, pid)) for o in db.execute(
        select(*mapping.STATUS_COLUMNS).where(StatusObservation.patient_pk == patient.pk)
        .order_by(StatusObservation.taken_at, StatusObservation.pk)).all())
    sessions = db.execute(select(TreatmentSession.pk, TreatmentSession.id)
                          .where(TreatmentSession.patient_pk == patient.pk)
                          .order_by(TreatmentSession.checked_in_at, TreatmentSession.pk)).all()
    pks = [pk for pk, _ in sessions]
    readings: dict[int, list[Any]] = {pk: [] for pk in pks}
    if pks:  # every session's readings in one query, not one per session
        for row in db.execute(select(SessionReading.session_pk,
                                     *_columns(SessionReading, SessionReading.taken_at))
                              .where(SessionReading.session_pk.in_(pks))
                              .order_by(SessionReading.taken_at, SessionReading.pk)).all():
            readings[row.session_pk].append(row)
    events = scale_events_of(db, pks)
    for pk, session_id in sessions:
        yield from _light_rows("chair", readings[pk])
        yield from (_resource_entry(mapping.scale_observation(event, pid, session_id))
                    for event in events[pk])


def scale_events_of(db: Session, session_pks: list[int]) -> dict[int, list[SessionEvent]]:
    """The MOAA/S and CADSS scores of the sessions, by session, in time order; one query."""
    events: dict[int, list[SessionEvent]] = {pk: [] for pk in session_pks}
    if session_pks:
        for event in db.execute(select(SessionEvent).where(
                SessionEvent.session_pk.in_(session_pks),
                SessionEvent.kind.in_(tuple(mapping.SCALE_CODES)))
                .order_by(SessionEvent.at, SessionEvent.pk)).scalars():
            events[event.session_pk].append(event)
    return events


_CHART_ROWS = select(*built_columns(VitalSigns)).where(
    VitalSigns.pk.in_(bindparam("pks", expanding=True)))
_CHAIR_ROWS = (select(*built_columns(SessionReading), TreatmentSession.id.label("session_id"))
               .join(TreatmentSession, SessionReading.session_pk == TreatmentSession.pk)
               .where(SessionReading.pk.in_(bindparam("pks", expanding=True))))


def _built_rows(db: Session, patient: Whose, rows: list[tuple[str, int]]
                ) -> dict[str, Resource]:
    built: dict[str, Resource] = {}
    chart = sorted({pk for source, pk in rows if source == "chart"})
    chair = sorted({pk for source, pk in rows if source == "chair"})
    if chart:
        for vitals in db.execute(_CHART_ROWS, {"pks": chart}).all():
            built.update((r["id"], r) for r in mapping.vital_observations(vitals, patient.id))
    if chair:
        for reading in db.execute(_CHAIR_ROWS, {"pks": chair}).all():
            built.update((r["id"], r) for r in mapping.session_reading_observations(
                reading, patient.id, reading.session_id))
    return built
