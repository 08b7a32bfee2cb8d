"""Booking a course's induction series: local times across daylight saving, closed days, a
prescriber away, alternatives proposed before anything is saved; moving one leaves the others."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.errors import Conflict, InvalidInput
from ketaclinic.scheduling import booking, resources
from ketaclinic.scheduling.models import Appointment
from tests.scheduling.helpers import (
    ADMIN,
    DESK,
    NEW_YORK,
    course,
    monday_before_spring_forward,
    staffed_site,
)


def appointments(db: Session) -> int:
    return db.execute(select(func.count()).select_from(Appointment)).scalar_one()


def test_iv_series_across_daylight_saving_and_a_holiday(db: Session, world) -> None:
    # Clocks in New York go forward an hour (EST, UTC-5, to EDT, UTC-4) on the Sunday between.
    monday = monday_before_spring_forward()
    site = staffed_site(db)
    evaluation, patient = course(db, "iv", monday)
    holiday = monday + timedelta(days=9)
    resources.add_closure(db=db, site=site, day=holiday, reason="site holiday", actor=ADMIN)
    planned = [str(s.planned_on) for s in evaluation.sessions]
    assert planned == [str(monday + timedelta(days=n)) for n in (0, 2, 4, 7, 9, 11)]
    proposal = booking.propose_series(db=db, site=site, course=evaluation, at=time(9))
    assert appointments(db) == 0  # a proposal saves nothing
    blocked = [p for p in proposal if p.problems]
    assert [p.course_session for p in blocked] == [5]
    assert f"closed on Wed {holiday} (site holiday)" in blocked[0].problems[0]
    # The nearest valid days in the same week that keep a day between sessions: Tue or Thu.
    assert [a.astimezone(NEW_YORK).date() for a, _ in blocked[0].alternatives] == [
        holiday - timedelta(days=1), holiday + timedelta(days=1)]
    slots = [(p.course_session, p.alternatives[0][0] if p.problems else p.starts_at)
             for p in proposal]
    made = booking.book_series(db=db, site=site, course=evaluation, patient=patient,
                               slots=slots, actor=DESK)
    local = [a.starts_at.astimezone(NEW_YORK) for a in made]
    assert [t.strftime("%a %d %H:%M") for t in local] == [
        f"{monday + timedelta(days=n):%a %d} 09:00" for n in (0, 2, 4, 7, 8, 11)]
    assert [t.strftime("%a") for t in local] == ["Mon", "Wed", "Fri", "Mon", "Tue", "Fri"]
    # The same local time is a different UTC hour on each side of the change.
    assert {a.starts_at.astimezone(ZoneInfo("UTC")).hour for a in made[:3]} == {14}
    assert {a.starts_at.astimezone(ZoneInfo("UTC")).hour for a in made[3:]} == {13}
    assert all(a.ends_at - a.starts_at == timedelta(minutes=130) for a in made)
    assert len({a.series_id for a in made}) == 1 and appointments(db) == 6
    assert booking.unbooked(db, evaluation) == []


def test_esketamine_series_with_the_prescriber_away_proposes_and_saves_nothing(
        db: Session, world) -> None:
    site = staffed_site(db)
    evaluation, patient = course(db, "esketamine", monday_before_spring_forward())
    away = evaluation.sessions[3].planned_on  # week 2, second session
    resources.add_absence(db=db, username="prescriber", day=away, reason="conference",
                          actor=ADMIN)
    proposal = booking.propose_series(db=db, site=site, course=evaluation, at=time(10))
    assert appointments(db) == 0
    [blocked] = [p for p in proposal if p.problems]
    assert blocked.planned_day == away
    assert "no prescriber on site" in blocked.problems[0] and "SPRAVATO-REMS" in blocked.problems[0]
    alternatives = [a.astimezone(NEW_YORK).date() for a, _ in blocked.alternatives]
    neighbours = [s.planned_on for s in evaluation.sessions
                  if s.number in (blocked.course_session - 1, blocked.course_session + 1)]
    assert alternatives and away not in alternatives
    assert all(abs((day - n).days) >= 2 for day in alternatives for n in neighbours)
    # Confirming the slot as first asked is refused, naming it; nothing is stored.
    asked = [(p.course_session, p.starts_at) for p in proposal]
    with pytest.raises(InvalidInput) as refused:
        booking.book_series(db=db, site=site, course=evaluation, patient=patient,
                            slots=asked, actor=DESK)
    assert any("no prescriber on site" in p.message for p in refused.value.problems)
    assert appointments(db) == 0
    chosen = [(p.course_session, p.alternatives[0][0] if p.problems else p.starts_at)
              for p in proposal]
    made = booking.book_series(db=db, site=site, course=evaluation, patient=patient,
                               slots=chosen, actor=DESK)
    assert len(made) == len(evaluation.sessions) == 12


def test_moving_or_cancelling_one_leaves_the_others(db: Session, world) -> None:
    site = staffed_site(db)
    monday = monday_before_spring_forward()
    evaluation, patient = course(db, "iv", monday)
    proposal = booking.propose_series(db=db, site=site, course=evaluation, at=time(9))
    made = booking.book_series(db=db, site=site, course=evaluation, patient=patient,
                               slots=[(p.course_session, p.starts_at) for p in proposal],
                               actor=DESK)
    before = {a.pk: a.starts_at for a in made}
    second = made[1]
    later = datetime.combine(monday + timedelta(days=2), time(13, 30), tzinfo=NEW_YORK)
    booking.move(db=db, appointment=second, starts_at=later, patient=patient, actor=DESK)
    with pytest.raises(Conflict, match="less than 1 day"):
        booking.move(db=db, appointment=second, starts_at=made[2].starts_at, patient=patient,
                     actor=DESK)
    booking.cancel(db=db, appointment=made[4], reason="patient unwell", patient=patient,
                   actor=DESK)
    db.expire_all()
    rows = {a.pk: a for a in db.execute(select(Appointment)).scalars()}
    assert rows[second.pk].starts_at == later
    assert all(rows[pk].starts_at == t for pk, t in before.items() if pk != second.pk)
    assert [s.number for s in booking.unbooked(db, evaluation)] == [5]
    assert rows[made[4].pk].status == "cancelled" and not rows[made[4].pk].late_cancel


def test_single_bookings_fill_chairs_then_are_refused_with_reasons(db: Session, world) -> None:
    site = staffed_site(db)
    monday = monday_before_spring_forward()
    _, patient = course(db, "iv", monday)
    start = datetime.combine(monday + timedelta(days=1), time(9), tzinfo=NEW_YORK)
    for _ in range(2):  # site A has two chairs
        booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=start, actor=DESK)
    with pytest.raises(Conflict, match="no free chair for IV infusion"):
        booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=start, actor=DESK)
    with pytest.raises(Conflict, match="outside opening hours 08:00-18:00"):
        booking.book(db=db, site=site, patient=patient, kind="iv",
                     starts_at=start.replace(hour=17), actor=DESK)
    with pytest.raises(Conflict, match="closed on Saturdays"):
        booking.book(db=db, site=site, patient=patient, kind="evaluation",
                     starts_at=start + timedelta(days=4), actor=DESK)
    with pytest.raises(Conflict, match="in the past"):
        booking.book(db=db, site=site, patient=patient, kind="follow-up",
                     starts_at=datetime(2020, 1, 6, 9, tzinfo=NEW_YORK), actor=DESK)
    with pytest.raises(InvalidInput, match="accepted: iv, esketamine"):
        booking.book(db=db, site=site, patient=patient, kind="massage", starts_at=start,
                     actor=DESK)
    # An evaluation needs no chair, only the prescriber on site.
    booking.book(db=db, site=site, patient=patient, kind="evaluation", starts_at=start,
                 actor=DESK)


def test_the_nurse_s_patients_are_counted_at_once_not_over_the_whole_slot(
        db: Session, world) -> None:
    """Two back-to-back infusions in one chair are one patient at a time for the nurse: with one
    nurse (3 patients each) and four chairs, a third patient fits beside them, a fourth does not."""
    from ketaclinic.clinics.models import Chair

    site = staffed_site(db)
    site.chairs.extend([Chair(name="A3"), Chair(name="A4")])
    db.flush()
    monday = monday_before_spring_forward()
    _, patient = course(db, "iv", monday)
    day = monday + timedelta(days=1)

    def at(hour: int, minute: int) -> datetime:
        return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)

    chair = {c.name: c.pk for c in site.chairs}
    for starts, name in ((at(8, 0), "A1"), (at(10, 15), "A1"), (at(8, 15), "A2")):
        booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=starts, actor=DESK,
                     chair_pk=chair[name])
    booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=at(8, 30), actor=DESK)
    with pytest.raises(Conflict, match="the nurses on shift already watch 3 patients"):
        booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=at(8, 45),
                     actor=DESK)
