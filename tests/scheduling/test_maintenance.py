"""The maintenance due list on the demo clinic (the patient's own response sets the interval when
their scores show one), booking from it, and the attendance report."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.errors import Conflict
from ketaclinic.kernel.actor import Actor
from ketaclinic.scheduling import attendance, booking, maintenance
from tests.cli_helpers import run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo-maintenance')}/demo.db"
    for args in (("db", "upgrade"), ("demo", "--patients", "30")):
        result = run_cli(url, *args)
        assert result.returncode == 0, result.stderr
    return url


def test_due_list_uses_the_patients_own_response_or_the_route_default(demo: str) -> None:
    engine = create_engine(demo)
    with Session(engine) as db:
        site = db.execute(select(Site).where(Site.code == "HPC")).scalar_one()
        items = maintenance.due_list(db, site)
        personal = [d for d in items if "benefit lasted" in d.basis]
        default = [d for d in items if "MURROUGH-2013" in d.basis and "benefit" not in d.basis]
        assert personal and default, [d.basis for d in items]
        for item in personal:  # measures.toml [relapse]: 75 % of the benefit, at least 7 days
            benefit = int(item.basis.split("benefit lasted ")[1].split(" days")[0])
            assert item.interval_days == max(int(benefit * 0.75), 7)
        assert all(d.interval_days == 14 for d in default)
        assert all(d.due_on == d.last_session + timedelta(days=d.interval_days) for d in items)
        # Booking the next session takes the course off the list.
        first = items[0]
        zone = ZoneInfo(site.time_zone)
        # After the demo's own booked weeks (to next week's end), so the chairs are free.
        day = max(first.due_on, clock.now().astimezone(zone).date() + timedelta(days=15))
        while day.weekday() >= 5:
            day += timedelta(days=1)
        desk = Actor(username="frontdesk", role="front_desk", site_pks=frozenset({site.pk}))
        made = booking.book(db=db, site=site, patient=first.patient, kind=first.course.route,
                            starts_at=datetime.combine(day, time(9), tzinfo=zone), actor=desk,
                            course=first.course)
        db.flush()
        assert first.course.pk not in {d.course.pk for d in maintenance.due_list(db, site)}
        # A cancellation and a no-show show in the attendance report.
        def seen() -> attendance.Attendance:
            return attendance.report(db, site, clock.now().date() - timedelta(days=2),
                                     day + timedelta(days=1))

        before = seen()  # the demo's own weeks have their no-shows
        missed_before = {p.pk: missed for p, missed, _ in before.patients}
        booking.cancel(db=db, appointment=made, reason="unwell", patient=first.patient,
                       actor=desk)
        again = booking.book(db=db, site=site, patient=first.patient, kind=first.course.route,
                             starts_at=datetime.combine(day, time(13), tzinfo=zone), actor=desk,
                             course=first.course)
        with pytest.raises(Conflict, match="not started yet"):
            booking.no_show(db=db, appointment=again, patient=first.patient, actor=desk)
        again.starts_at = clock.now() - timedelta(minutes=30)  # the time came; nobody arrived
        again.ends_at = again.starts_at + timedelta(hours=2)
        booking.no_show(db=db, appointment=again, patient=first.patient, actor=desk)
        report = seen()
        assert report.by_status["cancelled"] == before.by_status["cancelled"] + 1
        assert report.by_status["no-show"] == before.by_status["no-show"] + 1
        assert report.late_cancellations == before.late_cancellations + int(made.late_cancel)
        missed = {p.pk: missed for p, missed, _ in report.patients}
        assert missed.pop(first.patient.pk) == missed_before.pop(first.patient.pk, 0) + 1
        assert missed == missed_before
        db.rollback()
    engine.dispose()


def test_schedule_commands_configure_and_refuse_bad_input(demo: str) -> None:
    ok = run_cli(demo, "schedule", "chair-routes", "--site", "HPC", "--chair", "Chair 1",
                 "--routes", "esketamine")
    assert ok.returncode == 0, ok.stderr
    bad = run_cli(demo, "schedule", "chair-routes", "--site", "HPC", "--chair", "Chair 1",
                  "--routes", "teleport")
    assert bad.returncode == 2 and "Routes: teleport (accepted: iv, esketamine, im, oral)" in bad.stderr
    christmas = str(date(clock.now().year + 1, 12, 25))
    assert run_cli(demo, "schedule", "closure", "--site", "HPC", "--day", christmas,
                   "--reason", "Christmas Day").returncode == 0
    again = run_cli(demo, "schedule", "closure", "--site", "HPC", "--day", christmas)
    assert again.returncode == 2 and "already closed" in again.stderr
    hours = run_cli(demo, "schedule", "hours", "--site", "HPC", "--day", "sat", "--opens", "09:00",
                    "--closes", "08:00")
    assert hours.returncode == 2 and "is not before" in hours.stderr
    assert len(hours.stderr.strip().splitlines()) == 1
    assert run_cli(demo, "schedule", "hours", "--site", "HPC", "--day", "sat", "--opens", "09:00",
                   "--closes", "13:00").returncode == 0
    shift = run_cli(demo, "schedule", "shift", "--site", "HPC", "--user", "frontdesk", "--day",
                    "sat", "--starts", "09:00", "--ends", "13:00")
    assert shift.returncode == 2 and "not a nurse or prescriber" in shift.stderr
    once = run_cli(demo, "worker", "--once")
    assert once.returncode == 0 and once.stdout.startswith("reminders:")


def test_the_due_list_leaves_out_a_patient_who_has_died(demo: str) -> None:
    """No one is called to book the next session of a patient recorded as deceased."""
    engine = create_engine(demo)
    with Session(engine) as db:
        site = db.execute(select(Site).where(Site.code == "HPC")).scalar_one()
        before = maintenance.due_list(db, site)
        died = before[0].patient
        died.deceased = True
        db.flush()
        after = maintenance.due_list(db, site)
        assert {d.course.pk for d in before} - {d.course.pk for d in after} == {
            d.course.pk for d in before if d.patient.pk == died.pk}
        assert died.pk not in {d.patient.pk for d in after}
        db.rollback()
    engine.dispose()
