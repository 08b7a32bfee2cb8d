"""Estimates before treatment: a planned course's expected cost per session and in total, each
line with its basis, a package where the site has one, the sliding-scale discount, and what the
patient is expected to pay."""

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from ketaclinic.billing import prices
from ketaclinic.billing.models import SlidingScaleBand
from ketaclinic.clinics import rules as clinic_rules
from ketaclinic.clinics.models import Site
from ketaclinic.errors import invalid
from ketaclinic.knowledge import billing as rules
from ketaclinic.knowledge import dosing
from ketaclinic.knowledge.ruleset import RuleSet


@dataclass(frozen=True)
class Line:
    """One line of an estimate."""

    label: str
    units: int
    unit_cents: int
    amount_cents: int
    basis: str


@dataclass
class Estimate:
    """The expected cost of a course."""

    site: Site
    route: str
    sessions: int
    dose_mg: float
    dose_basis: str
    on: date
    currency: str
    lines: list[Line] = field(default_factory=list)
    insurance_expected_cents: int = 0
    insurance_basis: str = "no insurance recorded: the estimate assumes self-pay"

    @property
    def total_cents(self) -> int:
        """The sum of the lines."""
        return sum(line.amount_cents for line in self.lines)

    @property
    def patient_pays_cents(self) -> int:
        """What the patient is expected to pay."""
        return self.total_cents - self.insurance_expected_cents

    @property
    def per_session_cents(self) -> int:
        """The patient's share per session (rounded half up; the total is what counts)."""
        return int((Decimal(self.patient_pays_cents) / self.sessions).quantize(
            Decimal(1), ROUND_HALF_UP))


def _dose(route: str, weight_kg: float | None, dose_mg: float | None,
          ruleset: RuleSet) -> tuple[float, str]:
    """The dose the estimate prices, checked by the same rules as a prescription."""
    try:
        if route == "esketamine":
            if dose_mg is None:
                raise invalid("dose_mg", "an esketamine estimate needs the dose", "56 or 84")
            dosing.check_given(route=route, dose_mg=dose_mg, weight_kg=None, ruleset=ruleset)
            return dose_mg, "the prescribed esketamine dose"
        if weight_kg is None:
            raise invalid("weight_kg", "a weight-based dose needs the weight", "kg, e.g. 80")
        dose = dosing.calculate(route=route, weight_kg=weight_kg, ruleset=ruleset)
    except dosing.DoseRefused as exc:
        raise invalid(exc.field, exc.message, exc.accepted) from None
    return dose.dose_mg, dose.basis


def estimate(*, db: Session, site: Site, route: str, sessions: int, on: date,
             weight_kg: float | None = None, dose_mg: float | None = None,
             band: SlidingScaleBand | None = None) -> Estimate:
    """The estimate for a course of `sessions` at the prices in force on a day."""
    if route not in ("iv", "esketamine", "im"):
        raise invalid("route", repr(route), "iv, esketamine, im")
    if not 1 <= sessions <= 60:
        raise invalid("sessions", f"{sessions}", "1 to 60")
    dose, dose_basis = _dose(route, weight_kg, dose_mg, clinic_rules.current_ruleset(db=db))
    result = Estimate(site, route, sessions, dose, dose_basis, on, prices.currency())
    package = prices.package_on(db, site.pk, route, sessions, on)
    if package is not None:
        result.lines.append(Line(package.name, 1, package.amount_cents, package.amount_cents,
                                 f"the site's package for {sessions} {route} sessions, in force "
                                 f"from {package.effective_from}"))
    else:
        minutes = dosing.infusion_minutes(route) if route == "iv" else None
        for code in rules.session_codes(route=route, dose_mg=dose, infusion_minutes=minutes):
            if code.code == rules.iv_drug_code():
                unit = prices.ketamine_cents(db, site, on, dose)
                label = f"ketamine {dose:g} mg ({code.code})"
            else:
                unit = prices.require_price(db, site, code.code, on) * code.units
                label = f"{code.description} ({code.code} x {code.units})"
            result.lines.append(Line(label, sessions, unit, unit * sessions,
                                     f"per session: {code.basis}"))
    if band is not None:
        subtotal = result.total_cents
        off = prices.discount_cents(subtotal, band.discount_pct)
        result.lines.append(Line(f"sliding scale: {band.name} ({band.discount_pct} % off)", 1,
                                 -off, -off, f"household income up to "
                                 f"{band.income_up_to_cents // 100:,} a year; "
                                 f"{rules.rounding()}"))
    return result
