"""A served clinic folds an open session's reading tally in the background once it is crowded,
while the session's readings go on arriving (the folder thread of `ketaclinic serve`)."""

import time

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaclinic.demo import seed as demo_seed
from ketaclinic.demo.sessions import open_demo_session
from ketaclinic.treatments import reading_tally
from ketaclinic.treatments.models import TreatmentSession
from tests.server_helpers import free_port, server_log, start_server, stop_server
from tests.treatments.test_reading_tally import counted_plainly, parts, stored, write_parts


def _parts_now(engine: Engine, session_pk: int) -> int:
    with Session(engine) as db:
        return parts(db, session_pk)


def test_a_served_clinic_folds_a_crowded_open_session(migrated_engine: Engine) -> None:
    engine = migrated_engine
    with Session(engine, expire_on_commit=False) as db:
        demo_seed.seed(db, patients_count=4)
        session = open_demo_session(db, site_code="HPC", chair_name="Chair 1")
        db.commit()
    url = engine.url.render_as_string(hide_password=False)
    server = start_server(url, free_port(), extra_env={"KETACLINIC_TALLY_FOLD_EVERY_S": "0.2"})
    try:
        time.sleep(0.5)  # the folder's first look notes the newest part
        with Session(engine, expire_on_commit=False) as db:
            for _ in range(reading_tally.CROWDED_AT + 1):  # a part a committed write
                write_parts(db, db.get_one(TreatmentSession, session.pk), 1)
                db.commit()
        deadline = time.monotonic() + 20
        while _parts_now(engine, session.pk) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _parts_now(engine, session.pk) == 1, server_log(server)
    finally:
        stop_server(server)
    with Session(engine) as db:
        assert stored(db) == counted_plainly(db)
        assert db.execute(select(TreatmentSession.status).where(
            TreatmentSession.pk == session.pk)).scalar_one() == "open"
