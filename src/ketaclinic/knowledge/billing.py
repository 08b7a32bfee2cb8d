"""Charge rules: which codes and units a treatment session earns (billing.toml). No prices here:
prices belong to a site's price list."""

from dataclasses import dataclass
from functools import cache
from typing import Any

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class ChargeCode:
    """One code a session earns, with its units and why."""

    code: str
    system: str
    description: str
    units: int
    basis: str


@cache
def table() -> dict[str, Any]:
    """The billing table."""
    return load_table("billing")


@dataclass(frozen=True)
class AuthorizationRule:
    """Which routes need a prior authorisation, and when to warn before one ends or runs out."""

    routes: tuple[str, ...]
    warn_days_before_expiry: int
    warn_sessions_left: int
    source: str


def currency() -> str:
    """The currency every amount is in."""
    return str(table()["currency"])


def rounding() -> str:
    """How amounts are rounded, as people read it."""
    return str(table()["rounding"])


def code_names() -> list[str]:
    """Every charge code of the table, in table order."""
    return list(table()["codes"])


def iv_drug_code() -> str:
    """The code the IV ketamine drug line is billed under (priced per mg)."""
    return str(table()["iv"]["drug"])


@cache
def authorization_rule() -> AuthorizationRule:
    """The prior-authorisation rule of the table."""
    row = table()["prior_authorization"]
    return AuthorizationRule(tuple(row["routes"]), int(row["warn_days_before_expiry"]),
                             int(row["warn_sessions_left"]), str(row["source"]))


def indication_diagnoses(indication: str) -> tuple[str, ...]:
    """The ICD-10-CM code prefixes that name the diagnosis a course for `indication` treats."""
    return tuple(str(prefix) for prefix in table()["indication_diagnoses"].get(indication, ()))


def _code(code: str, units: int, basis: str) -> ChargeCode:
    row = table()["codes"][code]
    return ChargeCode(code, row["system"], row["description"], units, basis)


def infusion_codes(minutes: float) -> list[ChargeCode]:
    """IV infusion: the first hour, then an additional hour for each further hour begun by more
    than the table's minutes."""
    rule = table()["iv"]
    if minutes < rule["minimum_minutes"]:
        return []
    codes = [_code(rule["first_hour"], 1, f"infusion of {minutes:g} min: first hour "
                   f"({rule['time_source']})")]
    beyond = minutes - 60
    extra = 0
    while beyond > rule["additional_after_minutes"]:
        extra += 1
        beyond -= 60
    if extra:
        codes.append(_code(rule["additional_hour"], extra,
                           f"{extra} additional hour(s) beyond the first ({rule['time_source']})"))
    return codes


def session_codes(*, route: str, dose_mg: float, infusion_minutes: float | None) -> list[ChargeCode]:
    """Every code a treatment session earns from its route, dose and infusion time."""
    if route == "iv":
        rule = table()["iv"]
        codes = infusion_codes(infusion_minutes or 0)
        return [*codes, _code(rule["drug"], 1, f"ketamine {dose_mg:g} mg ({rule['drug_source']})")]
    if route == "esketamine":
        rule = table()["esketamine"]
        visit = rule["up_to"] if dose_mg <= rule["threshold_mg"] else rule["over"]
        units = round(dose_mg / rule["drug_mg_per_unit"])
        return [_code(visit, 1, f"{dose_mg:g} mg {'<=' if visit == rule['up_to'] else '>'} "
                      f"{rule['threshold_mg']} mg ({rule['source']})"),
                _code(rule["drug"], units, f"{units} x {rule['drug_mg_per_unit']} mg "
                      f"({rule['source']})")]
    if route == "im":
        rule = table()["im"]
        return [_code(rule["injection"], 1, rule["source"]),
                _code(rule["drug"], 1, f"ketamine {dose_mg:g} mg")]
    return []
