"""Witnesses, the database's refusal to change ledger rows, concurrent draws, inventory as of a date."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ketaclinic import clock, migrate
from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import service as auth
from ketaclinic.clinics import service as clinics
from ketaclinic.db import make_engine
from ketaclinic.errors import Conflict, Forbidden, InvalidInput
from ketaclinic.inventory import ledger
from ketaclinic.inventory.models import LedgerRow, Product, StorageLocation
from ketaclinic.kernel.actor import Actor
from tests.conftest import BACKENDS, PASSWORD, drop_postgres_database, fresh_database_url, totp_now
from tests.inventory.helpers import NURSE, sessions, stock


def test_waste_needs_a_second_person_who_authenticates(db: Session, world) -> None:
    product, cabinet, _ = stock(db, "w")
    [container] = ledger.receive(db=db, product=product, lot_number="L", supplier="S", invoice="I",
                                 expires_on=clock.now().date() + timedelta(days=300),
                                 location=cabinet, count=1, actor=NURSE)
    [session] = sessions(db, 1)
    ledger.draw(db=db, container_pk=container.pk, amount=Decimal(50), session_pk=session,
                actor=NURSE)
    with pytest.raises(InvalidInput, match="cannot be the person recording"):
        ledger.witness(db=db, username="nurse_a", password=PASSWORD, totp_code="", actor=NURSE)
    with pytest.raises(Forbidden):
        ledger.witness(db=db, username="nurse_b", password="wrong-password", totp_code="",
                       actor=NURSE)
    with pytest.raises(InvalidInput, match="not licensed"):
        ledger.witness(db=db, username="frontdesk", password=PASSWORD, totp_code="", actor=NURSE)
    with pytest.raises(Forbidden, match="two-factor"):
        ledger.witness(db=db, username="prescriber", password=PASSWORD, totp_code="000000",
                       actor=NURSE)
    prescriber = world.users["prescriber"]
    witness = ledger.witness(db=db, username="prescriber", password=PASSWORD,
                             totp_code=totp_now(prescriber), actor=NURSE)
    txn = ledger.waste(db=db, container_pk=container.pk, amount=Decimal(15), session_pk=session,
                       witness_user=witness, actor=NURSE)
    rows = db.execute(select(LedgerRow).where(LedgerRow.txn_id == txn)).scalars().all()
    assert {r.witness for r in rows} == {"prescriber"}
    assert db.execute(select(AuditEvent.action).where(AuditEvent.record_id == str(txn))
                      ).scalar_one() == "inventory waste"
    with pytest.raises(Conflict, match="drawn for this session"):
        ledger.waste(db=db, container_pk=container.pk, amount=Decimal(36), session_pk=session,
                     witness_user=witness, actor=NURSE)


@pytest.mark.parametrize("statement", ["UPDATE inventory_ledger SET quantity_mg = 1",
                                       "DELETE FROM inventory_ledger"])
def test_the_database_refuses_to_change_ledger_rows(db: Session, world, statement: str) -> None:
    product, cabinet, _ = stock(db, "x")
    ledger.receive(db=db, product=product, lot_number="L", supplier="S", invoice="I",
                   expires_on=clock.now().date() + timedelta(days=300), location=cabinet, count=1,
                   actor=NURSE)
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text(statement))


def test_inventory_as_of_a_past_date_matches_a_hand_count(db: Session, world) -> None:
    product, cabinet, other = stock(db, "h")
    start = clock.now() - timedelta(days=10)
    containers = ledger.receive(db=db, product=product, lot_number="L", supplier="S", invoice="I",
                                expires_on=start.date() + timedelta(days=300), location=cabinet,
                                count=3, actor=NURSE, occurred_at=start)
    [session] = sessions(db, 1)
    first, second, third = (c.pk for c in containers)
    ledger.draw(db=db, container_pk=first, amount=Decimal(35), session_pk=session, actor=NURSE,
                occurred_at=start + timedelta(days=1))
    ledger.transfer(db=db, container_pk=second, to=other, actor=NURSE,
                    occurred_at=start + timedelta(days=2))
    ledger.draw(db=db, container_pk=third, amount=Decimal(500), session_pk=session, actor=NURSE,
                occurred_at=start + timedelta(days=3))
    by_day_two = {(r["container_pk"], r["location_pk"]): r["quantity_mg"]
                  for r in ledger.inventory_as_of(db, start + timedelta(days=2, hours=1))}
    assert by_day_two == {(first, cabinet.pk): Decimal("465.000"),
                          (second, other.pk): Decimal("500.000"),
                          (third, cabinet.pk): Decimal("500.000")}
    now = {(r["container_pk"], r["location_pk"]) for r in ledger.inventory_as_of(db, clock.now())}
    assert now == {(first, cabinet.pk), (second, other.pk)}  # the third is empty


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_draws_never_overdraw(backend: str, tmp_path) -> None:
    url = fresh_database_url(backend, tmp_path)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        system = Actor(username="seed", role="system")
        with Session(engine) as db:
            site = clinics.create_site(db=db, code="C", name="C", address="", time_zone="UTC",
                                       chairs=1, network_name="N", actor=system)
            auth.create_user(db=db, username="n1", display_name="n1", role="nurse",
                             password=PASSWORD, site_codes=["C"], actor=system)
            product = Product(name="vial", drug="ketamine", ndc="1", mg_per_container=500,
                              created_by="t")
            cabinet = StorageLocation(site_pk=site.pk, name="Cab", created_by="t")
            db.add_all([product, cabinet])
            db.flush()
            [container] = ledger.receive(db=db, product=product, lot_number="L", supplier="S",
                                         invoice="I", expires_on=clock.now().date(), location=cabinet,
                                         count=1, actor=system)
            db.commit()
            container_pk = container.pk
        outcomes: list[str] = []
        barrier = threading.Barrier(4)

        def draw_300() -> None:
            with Session(engine) as db:
                barrier.wait()
                try:
                    ledger.draw(db=db, container_pk=container_pk, amount=Decimal(300),
                                session_pk=None, actor=system)  # type: ignore[arg-type]
                    db.commit()
                    outcomes.append("drawn")
                except Conflict:
                    db.rollback()
                    outcomes.append("refused")

        threads = [threading.Thread(target=draw_300) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["drawn", "refused", "refused", "refused"]
        with Session(engine) as db:
            held, _ = ledger.balance(db, ledger.STOCK, container_pk=container_pk)
            assert held == Decimal(200)
            assert db.execute(select(func.sum(LedgerRow.quantity_mg))).scalar_one() == 0
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_postgres_database(url)
