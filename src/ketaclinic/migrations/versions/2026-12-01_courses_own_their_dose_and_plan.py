"""courses are rows of their own: the signed dose and dated plan move off the evaluation, and
every table that names a course refers to it as course_pk

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 04:30:00
"""
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Tables whose column naming a course changes name (evaluation_pk -> course_pk), and whether it
# may be empty.
RENAMED = {"appointment": True, "treatment_session": False}
# Tables that already call it course_pk but pointed at the evaluation.
RETARGETED = {"measure": True, "measure_request": True, "course_review": False}
PROTECTED = ("course", "planned_session", "course_transition")

_evaluation = sa.table("evaluation", sa.column("pk", sa.Integer()), sa.column("plan", sa.JSON()),
                       sa.column("dose", sa.JSON()))
_course = sa.table("course", sa.column("pk", sa.Integer()), sa.column("evaluation_pk", sa.Integer()),
                   sa.column("route", sa.String()), sa.column("indication", sa.String()),
                   sa.column("state", sa.String()), sa.column("maintenance", sa.String()),
                   sa.column("plan_source", sa.String()), sa.column("closed_weekdays", sa.JSON()),
                   sa.column("created_at", sa.DateTime(timezone=True)),
                   sa.column("created_by", sa.String()))
_planned = sa.table("planned_session", sa.column("id", sa.Uuid()), sa.column("course_pk", sa.Integer()),
                    sa.column("number", sa.Integer()), sa.column("phase", sa.String()),
                    sa.column("week", sa.Integer()), sa.column("planned_on", sa.Date()),
                    sa.column("created_at", sa.DateTime(timezone=True)),
                    sa.column("updated_at", sa.DateTime(timezone=True)),
                    sa.column("created_by", sa.String()))
# Before the columns change: sessions and reviews still name the evaluation.
_session = sa.table("treatment_session", sa.column("evaluation_pk", sa.Integer()),
                    sa.column("dose_start", sa.DateTime(timezone=True)))
_review = sa.table("course_review", sa.column("course_pk", sa.Integer()),
                   sa.column("decision", sa.String()),
                   sa.column("created_at", sa.DateTime(timezone=True)))
_transition = sa.table("course_transition", sa.column("id", sa.Uuid()),
                       sa.column("course_pk", sa.Integer()), sa.column("from_state", sa.String()),
                       sa.column("to_state", sa.String()),
                       sa.column("at", sa.DateTime(timezone=True)), sa.column("reason", sa.String()),
                       sa.column("created_at", sa.DateTime(timezone=True)),
                       sa.column("updated_at", sa.DateTime(timezone=True)),
                       sa.column("created_by", sa.String()))


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


@contextmanager
def _triggers_kept(tables: Sequence[str]) -> Iterator[None]:
    """SQLite rebuilds a table to change its foreign keys, which drops its triggers (the
    no-delete guards): put them back."""
    if not _sqlite():
        yield
        return
    bind = op.get_bind()
    kept = bind.execute(sa.text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ("
        + ", ".join(f"'{t}'" for t in tables) + ")")).all()
    yield
    present = set(bind.execute(sa.text(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
    for name, sql in kept:
        if name not in present:
            bind.execute(sa.text(sql))


def _protect() -> None:
    """Refuse DELETE on courses, their plans and transitions (function from revision 0002)."""
    for table in PROTECTED:
        if _sqlite():
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
                       f"SELECT RAISE(ABORT, '{table} rows are never deleted'); END")
        else:
            op.execute(f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION clinical_rows_never_deleted()")


def _unprotect() -> None:
    for table in PROTECTED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete"
                   + ("" if _sqlite() else f" ON {table}"))


def _record_columns() -> list[sa.Column[Any]]:
    return [sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("id", sa.Uuid(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_by", sa.String(length=150), nullable=False)]


def _create_tables() -> None:
    op.create_table(
        "course",
        sa.Column("patient_pk", sa.Integer(), nullable=False),
        sa.Column("evaluation_pk", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=20), nullable=False),
        sa.Column("indication", sa.String(length=20), nullable=False),
        sa.Column("prescriber", sa.String(length=150), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("dose", sa.JSON(), nullable=True),
        sa.Column("maintenance", sa.String(length=1000), nullable=True),
        sa.Column("plan_source", sa.String(length=1000), nullable=True),
        sa.Column("closed_weekdays", sa.JSON(), nullable=True),
        *_record_columns(),
        sa.ForeignKeyConstraint(["evaluation_pk"], ["evaluation.pk"],
                                name=op.f("fk_course_evaluation_pk_evaluation"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["patient_pk"], ["patient.pk"],
                                name=op.f("fk_course_patient_pk_patient"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_course")),
        sa.UniqueConstraint("evaluation_pk", name=op.f("uq_course_evaluation_pk")),
        sa.UniqueConstraint("id", name=op.f("uq_course_id")),
    )
    with op.batch_alter_table("course", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_patient_pk"), ["patient_pk"], unique=False)
    op.create_table(
        "planned_session",
        sa.Column("course_pk", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("week", sa.Integer(), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=False),
        *_record_columns(),
        sa.ForeignKeyConstraint(["course_pk"], ["course.pk"],
                                name=op.f("fk_planned_session_course_pk_course"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_planned_session")),
        sa.UniqueConstraint("course_pk", "number", name=op.f("uq_planned_session_course_pk")),
        sa.UniqueConstraint("id", name=op.f("uq_planned_session_id")),
    )
    op.create_table(
        "course_transition",
        sa.Column("course_pk", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        *_record_columns(),
        sa.ForeignKeyConstraint(["course_pk"], ["course.pk"],
                                name=op.f("fk_course_transition_course_pk_course"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_course_transition")),
        sa.UniqueConstraint("id", name=op.f("uq_course_transition_id")),
    )
    with op.batch_alter_table("course_transition", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_transition_course_pk"), ["course_pk"],
                              unique=False)


def _move_courses() -> None:
    """A course for every evaluation signed to start, its plan as rows, and its history."""
    bind = op.get_bind()
    bind.execute(sa.text(
        "INSERT INTO course (id, patient_pk, evaluation_pk, route, indication, prescriber, "
        "signed_at, state, dose, created_at, updated_at, created_by) "
        "SELECT id, patient_pk, pk, route, indication, COALESCE(signed_by, created_by), "
        "COALESCE(signed_at, created_at), 'planned', dose, COALESCE(signed_at, created_at), "
        "COALESCE(signed_at, created_at), COALESCE(signed_by, created_by) "
        "FROM evaluation WHERE signed_decision = 'start'"))
    courses = bind.execute(sa.select(_course.c.pk, _course.c.evaluation_pk, _course.c.created_at,
                                     _course.c.created_by, _evaluation.c.plan).join(
        _evaluation, _evaluation.c.pk == _course.c.evaluation_pk)).all()
    for pk, evaluation_pk, signed_at, signer, plan in courses:
        history: list[tuple[str | None, str, Any, str]] = [
            (None, "planned", signed_at, "signed to start")]
        if plan:
            bind.execute(_course.update().where(_course.c.pk == pk).values(
                maintenance=plan.get("maintenance", ""), plan_source=plan.get("source", ""),
                closed_weekdays=list(plan.get("closed_weekdays") or [])))
            rows = [{"id": uuid.uuid4(), "course_pk": pk, "number": int(s["number"]),
                     "phase": str(s["phase"]), "week": int(s.get("week") or 1),
                     "planned_on": date.fromisoformat(str(s["date"])), "created_at": signed_at,
                     "updated_at": signed_at, "created_by": signer}
                    for s in plan.get("sessions") or []]
            if rows:
                bind.execute(_planned.insert(), rows)
        first_dose = bind.execute(sa.select(sa.func.min(_session.c.dose_start)).where(
            _session.c.evaluation_pk == evaluation_pk, _session.c.dose_start.is_not(None))
        ).scalar()
        if first_dose is not None:
            history.append(("planned", "induction", first_dose, "first dose given"))
        review = bind.execute(sa.select(_review.c.decision, _review.c.created_at).where(
            _review.c.course_pk == evaluation_pk).order_by(_review.c.created_at.desc())).first()
        states = {"extend": "extended", "continue-maintenance": "maintenance", "stop": "stopped"}
        if review is not None and review[0] in states:
            history.append((history[-1][1], states[review[0]], review[1],
                            f"end-of-induction review: {review[0]}"))
        bind.execute(_transition.insert(), [
            {"id": uuid.uuid4(), "course_pk": pk, "from_state": before, "to_state": after,
             "at": at, "reason": reason, "created_at": at, "updated_at": at, "created_by": signer}
            for before, after, at, reason in history])
        bind.execute(_course.update().where(_course.c.pk == pk).values(state=history[-1][1]))


def upgrade() -> None:
    _create_tables()
    _move_courses()
    course_of = "(SELECT c.pk FROM course c WHERE c.evaluation_pk = {table}.{column})"
    with _triggers_kept(list(RENAMED) + list(RETARGETED)):
        for table, nullable in RENAMED.items():
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(sa.Column("course_pk", sa.Integer(), nullable=True))
            op.execute(f"UPDATE {table} SET course_pk = "
                       + course_of.format(table=table, column="evaluation_pk"))
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f"fk_{table}_evaluation_pk_evaluation", type_="foreignkey")
                batch_op.drop_column("evaluation_pk")
                batch_op.alter_column("course_pk", existing_type=sa.Integer(), nullable=nullable)
                batch_op.create_foreign_key(f"fk_{table}_course_pk_course", "course",
                                            ["course_pk"], ["pk"], ondelete="RESTRICT")
        for table in RETARGETED:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f"fk_{table}_course_pk_evaluation", type_="foreignkey")
            op.execute(f"UPDATE {table} SET course_pk = "
                       + course_of.format(table=table, column="course_pk"))
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.create_foreign_key(f"fk_{table}_course_pk_course", "course",
                                            ["course_pk"], ["pk"], ondelete="RESTRICT")
    with _triggers_kept(["evaluation"]), op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_column("plan")
        batch_op.drop_column("dose")
    _protect()


def _plans() -> dict[int, dict[str, Any]]:
    """Each course's plan in the shape the evaluation kept it, by evaluation key."""
    bind = op.get_bind()
    plans: dict[int, dict[str, Any]] = {}
    for pk, evaluation_pk, route, indication, maintenance, source, closed in bind.execute(
            sa.select(_course.c.pk, _course.c.evaluation_pk, _course.c.route,
                      _course.c.indication, _course.c.maintenance, _course.c.plan_source,
                      _course.c.closed_weekdays).where(_course.c.plan_source.is_not(None))):
        sessions = bind.execute(sa.select(_planned.c.number, _planned.c.planned_on,
                                          _planned.c.week, _planned.c.phase)
                                .where(_planned.c.course_pk == pk)
                                .order_by(_planned.c.number)).all()
        plans[evaluation_pk] = {
            "route": route, "indication": indication,
            "sessions": [{"number": n, "date": d.isoformat(), "weekday": WEEKDAYS[d.weekday()],
                          "week": w, "phase": p} for n, d, w, p in sessions],
            "maintenance": maintenance, "source": source, "closed_weekdays": list(closed or [])}
    return plans


def downgrade() -> None:
    _unprotect()
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dose", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("plan", sa.JSON(), nullable=True))
    op.execute("UPDATE evaluation SET dose = (SELECT c.dose FROM course c "
               "WHERE c.evaluation_pk = evaluation.pk)")
    for evaluation_pk, plan in _plans().items():
        op.get_bind().execute(_evaluation.update().where(_evaluation.c.pk == evaluation_pk)
                              .values(plan=plan))
    evaluation_of = "(SELECT c.evaluation_pk FROM course c WHERE c.pk = {table}.course_pk)"
    with _triggers_kept(list(RENAMED) + list(RETARGETED)):
        for table in RETARGETED:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f"fk_{table}_course_pk_course", type_="foreignkey")
            op.execute(f"UPDATE {table} SET course_pk = " + evaluation_of.format(table=table))
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.create_foreign_key(f"fk_{table}_course_pk_evaluation", "evaluation",
                                            ["course_pk"], ["pk"], ondelete="RESTRICT")
        for table, nullable in RENAMED.items():
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(sa.Column("evaluation_pk", sa.Integer(), nullable=True))
            op.execute(f"UPDATE {table} SET evaluation_pk = " + evaluation_of.format(table=table))
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_constraint(f"fk_{table}_course_pk_course", type_="foreignkey")
                batch_op.drop_column("course_pk")
                batch_op.alter_column("evaluation_pk", existing_type=sa.Integer(),
                                      nullable=nullable)
                batch_op.create_foreign_key(f"fk_{table}_evaluation_pk_evaluation", "evaluation",
                                            ["evaluation_pk"], ["pk"], ondelete="RESTRICT")
    op.drop_table("course_transition")
    op.drop_table("planned_session")
    op.drop_table("course")
