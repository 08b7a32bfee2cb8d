"""Booking a course's induction series: local times across daylight saving, closed days, a
prescriber away, alternatives proposed before anything is saved; moving one leaves the others."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic.errors import Conflict, InvalidInput
from ketaclinic.scheduling import booking, resources
from ketaclinic.scheduling.models import Appointment
from tests.scheduling.helpers import ADMIN, DESK, course, staffed_site

NEW_YORK = ZoneInfo("America/New_York")
# 2027-03-14: clocks in New York go forward an hour (EST, UTC-5, to EDT, UTC-4).
MONDAY_BEFORE_DST = date(2027, 3, 8)


def appointments(db: Session) -> int:
    return db.execute(select(func.count()).select_from(Appointment)).scalar_one()


def test_iv_series_across_daylight_saving_and_a_holiday(db: Session, world) -> None:
    site = staffed_site(db)
    evaluation, patient = course(db, "iv", MONDAY_BEFORE_DST)
    holiday = date(2027, 3, 17)
    resources.add_closure(db=db, site=site, day=holiday, reason="site holiday", actor=ADMIN)
    planned = [s["date"] for s in evaluation.plan["sessions"]]
    assert planned == ["2027-03-08", "2027-03-10", "2027-03-12", "2027-03-15", "2027-03-17",
                       "2027-03-19"]
    proposal = booking.propose_series(db=db, site=site, evaluation=evaluation, at=time(9))
    assert appointments(db) == 0  # a proposal saves nothing
    blocked = [p for p in proposal if p.problems]
    assert [p.course_session for p in blocked] == [5]
    assert "closed on Wed 2027-03-17 (site holiday)" in blocked[0].problems[0]
    # The nearest valid days in the same week that keep a day between sessions: Tue or Thu.
    assert [a.astimezone(NEW_YORK).date() for a, _ in blocked[0].alternatives] == [
        date(2027, 3, 16), date(2027, 3, 18)]
    slots = [(p.course_session, p.alternatives[0][0] if p.problems else p.starts_at)
             for p in proposal]
    made = booking.book_series(db=db, site=site, evaluation=evaluation, patient=patient,
                               slots=slots, actor=DESK)
    local = [a.starts_at.astimezone(NEW_YORK) for a in made]
    assert [t.strftime("%a %d %H:%M") for t in local] == [
        "Mon 08 09:00", "Wed 10 09:00", "Fri 12 09:00", "Mon 15 09:00", "Tue 16 09:00",
        "Fri 19 09:00"]
    # The same local time is a different UTC hour on each side of the change.
    assert {a.starts_at.astimezone(ZoneInfo("UTC")).hour for a in made[:3]} == {14}
    assert {a.starts_at.astimezone(ZoneInfo("UTC")).hour for a in made[3:]} == {13}
    assert all(a.ends_at - a.starts_at == timedelta(minutes=130) for a in made)
    assert len({a.series_id for a in made}) == 1 and appointments(db) == 6
    assert booking.unbooked(db, evaluation) == []


def test_esketamine_series_with_the_prescriber_away_proposes_and_saves_nothing(
        db: Session, world) -> None:
    site = staffed_site(db)
    evaluation, patient = course(db, "esketamine", MONDAY_BEFORE_DST)
    away = date.fromisoformat(evaluation.plan["sessions"][3]["date"])  # week 2, second session
    resources.add_absence(db=db, username="prescriber", day=away, reason="conference",
                          actor=ADMIN)
    proposal = booking.propose_series(db=db, site=site, evaluation=evaluation, at=time(10))
    assert appointments(db) == 0
    [blocked] = [p for p in proposal if p.problems]
    assert blocked.planned_day == away
    assert "no prescriber on site" in blocked.problems[0] and "SPRAVATO-REMS" in blocked.problems[0]
    alternatives = [a.astimezone(NEW_YORK).date() for a, _ in blocked.alternatives]
    neighbours = [date.fromisoformat(s["date"]) for s in evaluation.plan["sessions"]
                  if s["number"] in (blocked.course_session - 1, blocked.course_session + 1)]
    assert alternatives and away not in alternatives
    assert all(abs((day - n).days) >= 2 for day in alternatives for n in neighbours)
    # Confirming the slot as first asked is refused, naming it; nothing is stored.
    asked = [(p.course_session, p.starts_at) for p in proposal]
    with pytest.raises(InvalidInput) as refused:
        booking.book_series(db=db, site=site, evaluation=evaluation, patient=patient,
                            slots=asked, actor=DESK)
    assert any("no prescriber on site" in p.message for p in refused.value.problems)
    assert appointments(db) == 0
    chosen = [(p.course_session, p.alternatives[0][0] if p.problems else p.starts_at)
              for p in proposal]
    made = booking.book_series(db=db, site=site, evaluation=evaluation, patient=patient,
                               slots=chosen, actor=DESK)
    assert len(made) == len(evaluation.plan["sessions"]) == 12


def test_moving_or_cancelling_one_leaves_the_others(db: Session, world) -> None:
    site = staffed_site(db)
    evaluation, patient = course(db, "iv", MONDAY_BEFORE_DST)
    proposal = booking.propose_series(db=db, site=site, evaluation=evaluation, at=time(9))
    made = booking.book_series(db=db, site=site, evaluation=evaluation, patient=patient,
                               slots=[(p.course_session, p.starts_at) for p in proposal],
                               actor=DESK)
    before = {a.pk: a.starts_at for a in made}
    second = made[1]
    later = datetime.combine(date(2027, 3, 10), time(13, 30), tzinfo=NEW_YORK)
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
    assert [s["number"] for s in booking.unbooked(db, evaluation)] == [5]
    assert rows[made[4].pk].status == "cancelled" and not rows[made[4].pk].late_cancel


def test_single_bookings_fill_chairs_then_are_refused_with_reasons(db: Session, world) -> None:
    site = staffed_site(db)
    _, patient = course(db, "iv", MONDAY_BEFORE_DST)
    start = datetime.combine(date(2027, 3, 9), time(9), tzinfo=NEW_YORK)
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
