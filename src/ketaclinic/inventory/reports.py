"""Controlled-substance reports reconstructed from the ledger: the dispensing log, the inventory as
of any moment, usage per prescriber, patient and staff member with outliers, and a Form 106 draft."""

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.clinics.models import Site
from ketaclinic.inventory import catalogue, ledger
from ketaclinic.inventory.models import (
    Container,
    Discrepancy,
    LedgerRow,
    Lot,
    Product,
    StorageLocation,
)
from ketaclinic.knowledge import controlled_substances as cs_rules
from ketaclinic.knowledge.business_days import business_days_after
from ketaclinic.patients.models import Patient
from ketaclinic.treatments.models import TreatmentSession

# For each kind of entry, the account whose row says what moved (the "to" side).
DESTINATION = {"receive": ledger.STOCK, "draw": ledger.SESSION, "administer": ledger.PATIENT,
               "waste": ledger.WASTE, "loss": ledger.LOSS, "destroy": ledger.DESTROYED,
               "return": ledger.RETURNED}
LOG_COLUMNS = ("occurred_at", "entry", "container", "product", "ndc", "lot", "quantity_mg",
               "devices", "patient", "prescriber", "recorded_by", "witness", "reason", "txn_id")


def site_cabinets(db: Session, site_pks: frozenset[int] | set[int]) -> dict[int, StorageLocation]:
    """The cabinets at some sites by key."""
    return {c.pk: c for c in db.execute(select(StorageLocation).where(
        StorageLocation.site_pk.in_(site_pks))).scalars()}


def _txns_at(db: Session, site_pks: frozenset[int] | set[int], start: datetime,
             end: datetime) -> list[Any]:
    cabinets = list(site_cabinets(db, site_pks))
    sessions = select(TreatmentSession.pk).where(TreatmentSession.site_pk.in_(site_pks))
    return list(db.execute(select(LedgerRow.txn_id).distinct().where(
        LedgerRow.occurred_at >= start, LedgerRow.occurred_at < end,
        or_(LedgerRow.location_pk.in_(cabinets), LedgerRow.session_pk.in_(sessions)))).scalars())


def dispensing_log(db: Session, site_pks: frozenset[int] | set[int], start: datetime,
                   end: datetime) -> list[dict[str, Any]]:
    """Every ledger entry at the sites in [start, end), one line per transaction and container."""
    txns = _txns_at(db, site_pks, start, end)
    if not txns:
        return []
    rows = db.execute(select(LedgerRow, Container, Lot, Product).join(
        Container, Container.pk == LedgerRow.container_pk).join(
        Lot, Lot.pk == Container.lot_pk).join(Product, Product.pk == Lot.product_pk).where(
        LedgerRow.txn_id.in_(txns)).order_by(LedgerRow.occurred_at, LedgerRow.pk)).all()
    session_pks = {r.session_pk for r, *_ in rows if r.session_pk}
    patients = dict(db.execute(select(TreatmentSession.pk, Patient).join(
        Patient, Patient.pk == TreatmentSession.patient_pk).where(
        TreatmentSession.pk.in_(session_pks))).all()) if session_pks else {}
    lines = []
    for row, container, lot, product in rows:
        if not _shown(row):
            continue
        patient = patients.get(row.session_pk) if row.session_pk else None
        lines.append({
            "occurred_at": row.occurred_at, "entry": row.kind, "container": container.label,
            "product": product.name, "ndc": product.ndc, "lot": lot.lot_number,
            "quantity_mg": Decimal(row.quantity_mg).quantize(ledger.MG), "devices": row.devices,
            "patient": f"{patient.family_name}, {patient.given_name}" if patient else "",
            "prescriber": row.prescriber or "", "recorded_by": row.actor,
            "witness": row.witness or "", "reason": row.reason, "txn_id": str(row.txn_id),
            "session_pk": row.session_pk})
    return lines


def _shown(row: LedgerRow) -> bool:
    """The row of a transaction that says what moved where (the receiving side)."""
    wanted = DESTINATION.get(row.kind)
    if wanted is not None:
        return row.account == wanted
    if row.kind == "adjust":
        return row.account == ledger.STOCK  # signed: the correction to the cabinet
    return Decimal(row.quantity_mg) > 0  # transfers and reversals


def inventory_report(db: Session, site: Site, as_of: datetime) -> list[dict[str, Any]]:
    """Every container with stock at the site at a moment, from the ledger, with what it is."""
    cabinets = site_cabinets(db, {site.pk})
    rows = ledger.inventory_as_of(db, as_of, list(cabinets))
    if not rows:
        return []
    described = catalogue.describe(db, [r["container_pk"] for r in rows])
    exact_above = cs_rules.inventory_rule().exact_count_above_units
    report = []
    for r in rows:
        container, lot, product = described[r["container_pk"]]
        full = Decimal(str(product.mg_per_container)).quantize(ledger.MG)
        opened = r["quantity_mg"] < full
        report.append({
            "cabinet": cabinets[r["location_pk"]].name, "container": container.label,
            "product": product.name, "ndc": product.ndc, "lot": lot.lot_number,
            "expires_on": lot.expires_on, "quantity_mg": r["quantity_mg"], "devices": r["devices"],
            "container_state": "opened" if opened else "sealed",
            # 21 CFR 1304.11(e)(3): an opened container may be estimated unless it holds more
            # than the table's number of units (mL for an injection).
            "count_basis": "exact count" if not opened or (product.volume_ml or 0) > exact_above
            else "estimate allowed"})
    return report


@dataclass
class UsageRow:
    """One person's use over a period."""

    who: str
    sessions: int = 0
    given_mg: Decimal = Decimal(0)
    wasted_mg: Decimal = Decimal(0)
    drawn_mg: Decimal = Decimal(0)
    flags: list[str] = field(default_factory=list)

    @property
    def mg_per_session(self) -> Decimal:
        """Mean mg given per session."""
        return (self.given_mg / self.sessions).quantize(ledger.MG) if self.sessions else Decimal(0)

    @property
    def waste_share(self) -> float:
        """The share of what was drawn that was wasted."""
        return float(self.wasted_mg / self.drawn_mg) if self.drawn_mg else 0.0


def _modified_z(values: list[float]) -> list[float]:
    median = statistics.median(values)
    mad = statistics.median([abs(v - median) for v in values])
    if mad == 0:
        return [0.0 if v == median else float("inf") for v in values]
    return [0.6745 * (v - median) / mad for v in values]


def _flag(rows: list[UsageRow], measure: str, label: str) -> None:
    rule = cs_rules.outlier_rule()
    if len(rows) < rule.min_peers:
        return
    values = [float(getattr(r, measure)) for r in rows]
    for row, z in zip(rows, _modified_z(values), strict=True):
        if z > rule.modified_z:
            row.flags.append(f"{label} far above the others (modified z "
                             f"{'>10' if z > 10 else f'{z:.1f}'}; threshold {rule.modified_z:g})")


def usage(db: Session, site_pks: frozenset[int] | set[int], start: datetime,
          end: datetime) -> dict[str, list[UsageRow]]:
    """Given, wasted and drawn per prescriber, patient and staff member who drew, with outliers."""
    log = [line for line in dispensing_log(db, site_pks, start, end)
           if line["session_pk"] is not None]
    given = {line["session_pk"]: line for line in log if line["entry"] == "administer"}
    drew: dict[Any, str] = {}
    for line in log:
        if line["entry"] == "draw":
            drew.setdefault(line["session_pk"], line["recorded_by"])
    by: dict[str, dict[str, UsageRow]] = {"prescriber": {}, "patient": {}, "staff": {}}
    counted: set[tuple[str, str, int]] = set()
    for line in log:
        if line["entry"] not in ("draw", "administer", "waste"):
            continue
        treatment_session = line["session_pk"]
        administered = given.get(treatment_session)
        keys = {"prescriber": administered["prescriber"] or "(unknown)" if administered
                else "(not given)",
                "patient": line["patient"],
                "staff": drew.get(treatment_session, line["recorded_by"])}
        for group, key in keys.items():
            row = by[group].setdefault(key, UsageRow(key))
            if administered and (group, key, treatment_session) not in counted:
                counted.add((group, key, treatment_session))
                row.sessions += 1
            if line["entry"] == "draw":
                row.drawn_mg += line["quantity_mg"]
            elif line["entry"] == "administer":
                row.given_mg += line["quantity_mg"]
            else:
                row.wasted_mg += line["quantity_mg"]
    result = {}
    for group, rows in by.items():
        listed = sorted(rows.values(), key=lambda r: r.who)
        _flag(listed, "mg_per_session", "mg per session")
        _flag(listed, "waste_share", "share wasted")
        result[group] = listed
    return result


def form106_draft(db: Session, site: Site, start: datetime, end: datetime) -> dict[str, Any]:
    """The data for a DEA Form 106 (theft or loss) from losses written off and count shortages
    discovered in [start, end); a draft for the registrant to check and file."""
    rule = cs_rules.loss_report_rule()
    found = db.execute(select(Discrepancy).where(
        Discrepancy.site_pk == site.pk, Discrepancy.opened_at >= start,
        Discrepancy.opened_at < end).order_by(Discrepancy.opened_at)).scalars().all()
    items: list[dict[str, Any]] = []
    total = Decimal(0)
    for d in found:
        missing = (d.expected_mg - d.found_mg).quantize(ledger.MG)
        if missing <= 0:
            continue
        product = _product_of(db, d)
        discovered = clock.date_in(d.opened_at, site.time_zone)  # the site's day counts
        total += missing
        items.append({
            "discovered_on": discovered,
            "notice_due_by": business_days_after(discovered, rule.business_days),
            "kind": d.kind, "detail": d.detail, "ndc": product.ndc if product else "",
            "product": product.name if product else "ketamine (session draw)",
            "quantity_mg": missing, "status": "resolved: " + d.resolution if d.resolved_at
            else "open"})
    return {"registrant": site.name, "address": site.address,
            "dea_registration": site.dea_registration or "(not recorded for this site)",
            "period_start": start, "period_end": end, "items": items,
            "total_mg": total,
            "rule": f"{rule.source}; business days: {rule.holidays_source}"}


def _product_of(db: Session, discrepancy: Discrepancy) -> Product | None:
    container_pk = discrepancy.container_pk
    if container_pk is None and discrepancy.session_pk is not None:
        container_pk = db.execute(select(LedgerRow.container_pk).where(
            LedgerRow.session_pk == discrepancy.session_pk).limit(1)).scalar_one_or_none()
    if container_pk is None:
        return None
    return db.execute(select(Product).join(Lot, Lot.product_pk == Product.pk).join(
        Container, Container.lot_pk == Lot.pk).where(Container.pk == container_pk)).scalar_one()
