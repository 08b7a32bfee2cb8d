"""Two front desks booking the last free chair at the same moment: exactly one succeeds."""

import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketaclinic import migrate
from ketaclinic.auth import service as auth
from ketaclinic.clinics import service as clinics
from ketaclinic.db import make_engine
from ketaclinic.errors import Conflict
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.scheduling import booking, resources
from ketaclinic.scheduling.models import Appointment
from tests.conftest import BACKENDS, PASSWORD, drop_postgres_database, fresh_database_url
from tests.scheduling.helpers import a_monday_ahead


@pytest.mark.parametrize("backend", BACKENDS)
def test_last_free_chair_goes_to_exactly_one_desk(backend: str, tmp_path) -> None:
    url = fresh_database_url(backend, tmp_path)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        system = Actor(username="seed", role="system")
        with Session(engine) as db:
            site = clinics.create_site(db=db, code="C", name="C", address="",
                                       time_zone="America/Chicago", chairs=1, network_name="N",
                                       actor=system)
            system = Actor(username="seed", role="system", site_pks=frozenset({site.pk}))
            for name, role in (("n1", "nurse"), ("p1", "prescriber")):
                auth.create_user(db=db, username=name, display_name=name, role=role,
                                 password=PASSWORD, site_codes=["C"], actor=system)
                resources.add_shift(db=db, site=site, username=name, day="tue", starts=time(8),
                                    ends=time(18), actor=system)
            pks = [patients.register(db=db, actor=system, data=schemas.PatientIn(
                family_name=f"Desk{n}", given_name="Pat", birth_date="1980-01-01", sex="female",
                site="C")).pk for n in (1, 2)]
            db.commit()
            site_pk = site.pk
        chicago = ZoneInfo("America/Chicago")
        tuesday = a_monday_ahead(chicago) + timedelta(days=1)
        start = datetime.combine(tuesday, time(10), tzinfo=chicago)
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def book(patient_pk: int) -> None:
            with Session(engine) as db:
                from ketaclinic.clinics.models import Site
                from ketaclinic.patients.models import Patient

                site = db.get(Site, site_pk)
                patient = db.get(Patient, patient_pk)
                db.commit()
                barrier.wait()
                try:
                    booking.book(db=db, site=site, patient=patient, kind="iv", starts_at=start,
                                 actor=Actor(username=f"desk{patient_pk}", role="front_desk"))
                    db.commit()
                    outcomes.append("booked")
                except Conflict as exc:
                    db.rollback()
                    outcomes.append("refused: " + exc.detail)

        threads = [threading.Thread(target=book, args=(pk,)) for pk in pks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(o.split(":")[0] for o in outcomes) == ["booked", "refused"], outcomes
        assert any("no free chair" in o for o in outcomes)
        with Session(engine) as db:
            assert db.execute(select(func.count()).select_from(Appointment)).scalar_one() == 1
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_postgres_database(url)
