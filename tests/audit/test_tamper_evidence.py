"""Whoever can write the database file can drop the no-update triggers and edit, delete or add
rows, recomputing any unkeyed hash on the way: each such tampering with the audit trail (15) and
the controlled-substance ledger (7) is still found, against an anchor taken before it."""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from ketaclinic import clock, sealer
from ketaclinic.audit import keyed, sealing
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent, Seal
from ketaclinic.auth.models import User
from ketaclinic.inventory import integrity, ledger
from ketaclinic.inventory.models import LedgerRow
from ketaclinic.kernel.actor import Actor
from tests.inventory.helpers import NURSE, sessions, stock

DROP_TRIGGERS = {
    "sqlite": [f"DROP TRIGGER {table}_no_{what}" for table in ("audit_event", "audit_seal",
                                                             "inventory_ledger")
               for what in ("update", "delete")],
    "postgresql": ["DROP TRIGGER audit_event_no_update_delete ON audit_event",
                   "DROP TRIGGER audit_seal_no_update_delete ON audit_seal",
                   "DROP TRIGGER inventory_ledger_no_change ON inventory_ledger"],
}
ATTACKER = Actor(username="attacker", role="admin")


def unkeyed(parts: list[keyed.Part]) -> str:
    """What someone without the key computes: the same content, hashed with no key."""
    return hashlib.sha256(keyed.canonical(parts)).hexdigest()


@dataclass
class Sealed:
    """A sealed world and the anchors taken of it before anyone tampers."""

    db: Session
    audit_anchor: sealing.Anchor
    ledger_anchor: sealing.Anchor

    def events(self) -> list[AuditEvent]:
        return list(self.db.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())

    def rows(self) -> list[LedgerRow]:
        return list(self.db.execute(select(LedgerRow).order_by(LedgerRow.pk)).scalars())


def _anchor(db: Session, chain: str) -> sealing.Anchor:
    head = sealing.head(db, chain)
    return sealing.Anchor(chain=chain, pos=head.pos, mac=head.mac, taken_at=clock.now())


@pytest.fixture
def sealed(db: Session, world) -> Sealed:
    """Ledger movements (receive, draw, give, waste) and audit events, all sealed and anchored,
    then the triggers dropped."""
    product, cabinet, _ = stock(db, "t")
    containers = ledger.receive(db=db, product=product, lot_number="L1", supplier="S",
                                invoice="I1", expires_on=clock.now().date() + timedelta(days=300),
                                location=cabinet, count=2, actor=NURSE)
    [session] = sessions(db, 1)
    witness = db.execute(select(User).where(User.username == "nurse_b")).scalar_one()
    for container in containers:
        ledger.draw(db=db, container_pk=container.pk, amount=Decimal(100), session_pk=session,
                    actor=NURSE)
        ledger.give(db=db, container_pk=container.pk, amount=Decimal(60), session_pk=session,
                    prescriber="prescriber", actor=NURSE)
        ledger.waste(db=db, container_pk=container.pk, amount=Decimal(40), session_pk=session,
                     witness_user=witness, actor=NURSE)
    for n in range(60):
        audit.record(db=db, actor=NURSE, action="read", record_type="Patient",
                     record_id=f"r{n}", patient_id=world.patients["p_a1"])
    sealing.seal_pending(db, sealer.SEALED, now=clock.now())
    found = Sealed(db, _anchor(db, audit.CHAIN), _anchor(db, integrity.CHAIN))
    assert audit.verify(db=db, anchor=found.audit_anchor).ok
    assert integrity.verify(db=db, anchor=found.ledger_anchor).ok
    for statement in DROP_TRIGGERS[world.backend]:
        db.execute(text(statement))
    return found


def _reseal_unkeyed(db: Session, chain: str, from_pos: int = 1) -> None:
    """Rebuild the chain's links from a position on as an attacker can: no key."""
    links = list(db.execute(select(Seal).where(Seal.chain == chain, Seal.pos >= from_pos)
                            .order_by(Seal.pos)).scalars())
    prev = db.execute(select(Seal.mac).where(Seal.chain == chain, Seal.pos == from_pos - 1)
                      ).scalar_one_or_none() or keyed.GENESIS
    db.execute(delete(Seal).where(Seal.chain == chain, Seal.pos >= from_pos))
    db.flush()
    table = {audit.CHAIN: AuditEvent, integrity.CHAIN: LedgerRow}[chain]
    ref_column = AuditEvent.seq if chain == audit.CHAIN else LedgerRow.pk
    for pos, link in enumerate(links, start=from_pos):
        row_mac = db.execute(select(table.mac).where(ref_column == link.ref)).scalar_one_or_none()
        if row_mac is None:
            continue  # the attacker's deleted row: its link goes too, the rest close up
        prev = unkeyed(sealing.link_content(chain=chain, pos=pos, ref=link.ref, row_mac=row_mac,
                                            sealed_at=link.sealed_at, prev=prev))
        db.execute(insert(Seal).values(chain=chain, pos=pos, ref=link.ref, row_mac=row_mac,
                                       sealed_at=link.sealed_at, mac=prev))
    db.flush()


def _renumber(db: Session, chain: str) -> None:
    """Close up the positions left by removed links, then re-seal unkeyed."""
    links = list(db.execute(select(Seal).where(Seal.chain == chain).order_by(Seal.pos)).scalars())
    db.execute(delete(Seal).where(Seal.chain == chain))
    for pos, link in enumerate(links, start=1):
        db.execute(insert(Seal).values(chain=chain, pos=pos, ref=link.ref, row_mac=link.row_mac,
                                       sealed_at=link.sealed_at, mac=link.mac))
    _reseal_unkeyed(db, chain)


def _edit_event(db: Session, seq: int, recompute: bool, **values: object) -> None:
    db.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(**values))
    db.expire_all()
    if recompute:
        event = db.get(AuditEvent, seq)
        assert event is not None
        db.execute(update(AuditEvent).where(AuditEvent.seq == seq)
                   .values(mac=unkeyed(audit.content(event))))
        _reseal_unkeyed(db, audit.CHAIN)
    db.expire_all()


def _forged_event(db: Session, seq: int, when_days_ago: int) -> dict[str, object]:
    event = AuditEvent(seq=seq, id=uuid.uuid4(), created_at=clock.now() - timedelta(
        days=when_days_ago), created_by="prescriber", role="prescriber", action="read",
        record_type="Patient", record_id="x", patient_id=None, client="", detail="")
    event.mac = unkeyed(audit.content(event))
    return {c: getattr(event, c) for c in ("seq", "id", "created_at", "created_by", "role",
                                           "action", "record_type", "record_id", "patient_id",
                                           "client", "detail", "mac")}


def t_edit(s: Sealed) -> None:
    _edit_event(s.db, s.events()[10].seq, False, detail="nothing to see")


def t_edit_recomputed(s: Sealed) -> None:
    _edit_event(s.db, s.events()[10].seq, True, detail="nothing to see")


def t_backdate(s: Sealed) -> None:
    event = s.events()[12]
    _edit_event(s.db, event.seq, True, created_at=event.created_at - timedelta(days=30))


def t_move_to_another_patient(s: Sealed) -> None:
    _edit_event(s.db, s.events()[-5].seq, True, patient_id=str(uuid.uuid4()))


def t_change_who(s: Sealed) -> None:
    _edit_event(s.db, s.events()[-6].seq, True, created_by="someone-else")


def t_delete_event(s: Sealed) -> None:
    s.db.execute(delete(AuditEvent).where(AuditEvent.seq == s.events()[7].seq))


def t_delete_event_and_rechain(s: Sealed) -> None:
    seq = s.events()[7].seq
    s.db.execute(delete(AuditEvent).where(AuditEvent.seq == seq))
    s.db.execute(delete(Seal).where(Seal.chain == audit.CHAIN, Seal.ref == seq))
    _renumber(s.db, audit.CHAIN)


def t_delete_link(s: Sealed) -> None:
    s.db.execute(delete(Seal).where(Seal.chain == audit.CHAIN, Seal.pos == 9))


def t_forged_unsealed_event(s: Sealed) -> None:
    last = s.events()[-1].seq
    s.db.execute(insert(AuditEvent).values(**_forged_event(s.db, last + 1, when_days_ago=20)))


def t_forged_sealed_event(s: Sealed) -> None:
    last = s.events()[-1].seq
    forged = _forged_event(s.db, last + 1, when_days_ago=0)
    s.db.execute(insert(AuditEvent).values(**forged))
    head = sealing.head(s.db, audit.CHAIN)
    now = clock.now()
    s.db.execute(insert(Seal).values(
        chain=audit.CHAIN, pos=head.pos + 1, ref=last + 1, row_mac=forged["mac"], sealed_at=now,
        mac=unkeyed(sealing.link_content(chain=audit.CHAIN, pos=head.pos + 1, ref=last + 1,
                                         row_mac=str(forged["mac"]), sealed_at=now,
                                         prev=head.mac))))


def t_swap_two(s: Sealed) -> None:
    first, second = s.events()[20], s.events()[21]
    columns = ("id", "created_at", "created_by", "role", "action", "record_type", "record_id",
               "patient_id", "client", "detail", "mac")
    a = {c: getattr(first, c) for c in columns}
    b = {c: getattr(second, c) for c in columns}
    s.db.execute(update(AuditEvent).where(AuditEvent.seq == first.seq)
                 .values(**{**b, "id": uuid.uuid4()}))
    s.db.execute(update(AuditEvent).where(AuditEvent.seq == second.seq).values(**a))
    s.db.execute(update(AuditEvent).where(AuditEvent.seq == first.seq).values(id=b["id"]))


def _cut_tail(s: Sealed, count: int | None) -> None:
    refs = [e.seq for e in s.events()]
    gone = refs if count is None else refs[-count:]
    s.db.execute(delete(Seal).where(Seal.chain == audit.CHAIN, Seal.ref.in_(gone)))
    s.db.execute(delete(AuditEvent).where(AuditEvent.seq.in_(gone)))


def t_delete_last(s: Sealed) -> None:
    _cut_tail(s, 1)


def t_delete_last_fifty(s: Sealed) -> None:
    _cut_tail(s, 50)


def t_delete_everything(s: Sealed) -> None:
    _cut_tail(s, None)


def t_rewrite_the_whole_chain(s: Sealed) -> None:
    for event in s.events()[5:]:
        s.db.execute(update(AuditEvent).where(AuditEvent.seq == event.seq)
                     .values(mac=unkeyed(audit.content(event))))
    _reseal_unkeyed(s.db, audit.CHAIN)


AUDIT_TAMPERINGS: list[Callable[[Sealed], None]] = [
    t_edit, t_edit_recomputed, t_backdate, t_move_to_another_patient, t_change_who,
    t_delete_event, t_delete_event_and_rechain, t_delete_link, t_forged_unsealed_event,
    t_forged_sealed_event, t_swap_two, t_delete_last, t_delete_last_fifty, t_delete_everything,
    t_rewrite_the_whole_chain,
]


def _txn_rows(s: Sealed, kind: str) -> list[LedgerRow]:
    return [r for r in s.rows() if r.kind == kind]


def _edit_ledger(s: Sealed, pks: list[int], **values: object) -> None:
    s.db.execute(update(LedgerRow).where(LedgerRow.pk.in_(pks)).values(**values))
    s.db.expire_all()
    for pk in pks:
        row = s.db.get(LedgerRow, pk)
        assert row is not None
        s.db.execute(update(LedgerRow).where(LedgerRow.pk == pk)
                     .values(mac=unkeyed(integrity.content(row))))
    _reseal_unkeyed(s.db, integrity.CHAIN)


def l_change_quantity(s: Sealed) -> None:
    given = _txn_rows(s, "administer")[:2]  # both sides, so the transaction still balances
    for row in given:
        sign = 1 if row.quantity_mg > 0 else -1
        _edit_ledger(s, [row.pk], quantity_mg=Decimal(sign * 10))


def l_delete_waste(s: Sealed) -> None:
    pks = [r.pk for r in _txn_rows(s, "waste")[:2]]
    s.db.execute(delete(Seal).where(Seal.chain == integrity.CHAIN, Seal.ref.in_(pks)))
    s.db.execute(delete(LedgerRow).where(LedgerRow.pk.in_(pks)))
    _renumber(s.db, integrity.CHAIN)


def l_delete_one_side(s: Sealed) -> None:
    pk = _txn_rows(s, "draw")[0].pk
    s.db.execute(delete(LedgerRow).where(LedgerRow.pk == pk))


def l_change_witness(s: Sealed) -> None:
    _edit_ledger(s, [r.pk for r in _txn_rows(s, "waste")[:2]], witness="someone-else")


def l_backdate(s: Sealed) -> None:
    rows = _txn_rows(s, "draw")[:2]
    _edit_ledger(s, [r.pk for r in rows], occurred_at=rows[0].occurred_at - timedelta(days=10))


def l_cut_tail(s: Sealed) -> None:
    last = s.rows()[-2:]
    pks = [r.pk for r in last]
    s.db.execute(delete(Seal).where(Seal.chain == integrity.CHAIN, Seal.ref.in_(pks)))
    s.db.execute(delete(LedgerRow).where(LedgerRow.pk.in_(pks)))


def l_forged_waste(s: Sealed) -> None:
    template = _txn_rows(s, "waste")[0]
    txn = uuid.uuid4()
    next_pk = s.db.execute(select(func.max(LedgerRow.pk))).scalar_one() + 1
    for offset, (account, sign) in enumerate(((ledger.SESSION, -1), (ledger.WASTE, 1))):
        row = LedgerRow(pk=next_pk + offset, txn_id=txn, kind="waste", account=account,
                        container_pk=template.container_pk, location_pk=None,
                        session_pk=template.session_pk, quantity_mg=Decimal(sign * 30), devices=0,
                        occurred_at=template.occurred_at, recorded_at=template.recorded_at,
                        actor=template.actor, witness=template.witness, prescriber=None,
                        reason="", reverses=None)
        row.mac = unkeyed(integrity.content(row))
        s.db.add(row)
        s.db.flush()
        head = sealing.head(s.db, integrity.CHAIN)
        s.db.execute(insert(Seal).values(
            chain=integrity.CHAIN, pos=head.pos + 1, ref=row.pk, row_mac=row.mac,
            sealed_at=template.recorded_at,
            mac=unkeyed(sealing.link_content(chain=integrity.CHAIN, pos=head.pos + 1, ref=row.pk,
                                             row_mac=row.mac, sealed_at=template.recorded_at,
                                             prev=head.mac))))


LEDGER_TAMPERINGS: list[Callable[[Sealed], None]] = [
    l_change_quantity, l_delete_waste, l_delete_one_side, l_change_witness, l_backdate,
    l_cut_tail, l_forged_waste,
]


@pytest.mark.parametrize("tamper", AUDIT_TAMPERINGS + LEDGER_TAMPERINGS,
                         ids=lambda t: f"{'audit' if t in AUDIT_TAMPERINGS else 'ledger'}-"
                                       f"{t.__name__[2:]}")
def test_tampering_is_found(sealed: Sealed, tamper: Callable[[Sealed], None]) -> None:
    tamper(sealed)
    sealed.db.flush()
    sealed.db.expire_all()
    if tamper in AUDIT_TAMPERINGS:
        report = audit.verify(db=sealed.db, anchor=sealed.audit_anchor)
        assert not report.ok and report.reason, tamper.__name__
    else:
        found = integrity.verify(db=sealed.db, anchor=sealed.ledger_anchor)
        assert not found.ok and (found.chain.reason or found.unbalanced), tamper.__name__


def test_without_the_key_nothing_is_found_by_the_unkeyed_checks_alone(sealed: Sealed) -> None:
    """The tests above can fail: with the anchors left out, a cut tail passes (which is why
    anchors are taken), and an untouched chain passes."""
    assert audit.verify(db=sealed.db).ok
    t_delete_last_fifty(sealed)
    sealed.db.flush()
    assert audit.verify(db=sealed.db).ok
    assert not audit.verify(db=sealed.db, anchor=sealed.audit_anchor).ok


def test_untouched_ledger_passes_and_reports_nothing_unbalanced(sealed: Sealed) -> None:
    report = integrity.verify(db=sealed.db, anchor=sealed.ledger_anchor)
    assert report.ok and report.unbalanced == () and report.chain.rows_checked >= 16
