"""Appointment types: how long each holds a chair, and the staff each needs (appointments.toml)."""

from dataclasses import dataclass, replace
from datetime import time
from functools import cache
from math import ceil
from typing import Any

from ketaclinic.knowledge.monitoring import Observation, observation_of
from ketaclinic.knowledge.ruleset import default_ruleset
from ketaclinic.knowledge.tables import load_table

TREATMENT_ROUTES = ("iv", "esketamine", "im", "oral")
OBSERVATION = "observation"  # the part of a treatment's length that follows the dose


@dataclass(frozen=True)
class Part:
    """One piece of an appointment's length, with where the number comes from."""

    label: str
    minutes: int
    source: str


@dataclass(frozen=True)
class AppointmentKind:
    """What an appointment of a kind needs: minutes, a chair, a prescriber on site."""

    kind: str
    label: str
    route: str | None
    parts: tuple[Part, ...]
    chair: bool
    prescriber_on_site: bool
    prescriber_source: str
    min_days_apart: int
    spacing_source: str

    @property
    def minutes(self) -> int:
        """The whole length."""
        return sum(p.minutes for p in self.parts)

    def observed_for(self, observation: Observation) -> "AppointmentKind":
        """The kind holding its chair for this minimum observation after dosing (a clinic's, from
        its rule set) in place of the shipped one."""
        return replace(self, parts=tuple(
            Part(p.label, ceil(observation.minutes), observation.source)
            if p.label == OBSERVATION else p for p in self.parts))


@cache
def table() -> dict[str, Any]:
    """The appointments table."""
    return load_table("appointments")


@dataclass(frozen=True)
class BookingRules:
    """The clinic's booking numbers, each with its source (clinic defaults a clinic may change)."""

    slot_step_min: int
    patients_per_nurse: int
    late_cancel_hours: int
    max_days_ahead: int


@dataclass(frozen=True)
class ReminderRules:
    """When reminders go out, how failed sends are retried, and what they tell the patient."""

    hours_before: int
    max_attempts: int
    retry_after_min: tuple[int, ...]
    ride_home: str
    esketamine_fasting: str


@dataclass(frozen=True)
class MaintenanceDefault:
    """The maintenance interval of a route when the patient's own scores suggest none."""

    interval_days: int
    source: str


@cache
def booking_rules() -> BookingRules:
    """The booking numbers of appointments.toml."""
    row = table()
    return BookingRules(slot_step_min=int(row["slot_step_min"]),
                        patients_per_nurse=int(row["patients_per_nurse"]),
                        late_cancel_hours=int(row["late_cancel_hours"]),
                        max_days_ahead=int(row["booking"]["max_days_ahead"]))


@cache
def reminder_rules() -> ReminderRules:
    """The reminders section of appointments.toml."""
    row = table()["reminders"]
    return ReminderRules(hours_before=int(row["hours_before"]),
                         max_attempts=int(row["max_attempts"]),
                         retry_after_min=tuple(int(m) for m in row["retry_after_min"]),
                         ride_home=str(row["ride_home"]),
                         esketamine_fasting=str(row["esketamine_fasting"]))


def maintenance_default(route: str) -> MaintenanceDefault:
    """The route's default maintenance interval (IV's for a route the table does not list)."""
    rows = table()["maintenance"]
    row = rows.get(route) or rows["iv"]
    return MaintenanceDefault(int(row["interval_days"]), str(row["source"]))


def kinds() -> list[str]:
    """Every appointment kind in table order."""
    return list(table()["kind"])


def _shipped_observation(route: str) -> Part:
    observation = observation_of(default_ruleset(), route)
    return Part(OBSERVATION, ceil(observation.minutes), observation.source)


def _dose_minutes(route: str, row: dict[str, Any], indication: str) -> Part:
    if "dose_min" in row:
        return Part("dose", int(row["dose_min"]), row["dose_source"])
    dosing = load_table("dosing")[route].get(indication) or load_table("dosing")[route]["depression"]
    return Part("dose", int(dosing["duration_min"]), dosing["source"])


@cache
def kind(name: str, indication: str = "depression") -> AppointmentKind:
    """An appointment kind as shipped (a treatment's observation is the shipped rule set's: a
    booking holds the chair for the clinic's, `AppointmentKind.observed_for`); raises KeyError
    for an unknown kind."""
    row = table()["kind"][name]
    route = row.get("route")
    parts: tuple[Part, ...]
    if route:
        parts = (Part("check-in", table()["checkin_min"], table()["checkin_source"]),
                 _dose_minutes(route, row, indication),
                 _shipped_observation(route),
                 Part("turnover", table()["turnover_min"], table()["turnover_source"]))
    else:
        parts = (Part(row["label"].lower(), int(row["minutes"]), row["minutes_source"]),)
    return AppointmentKind(kind=name, label=row["label"], route=route, parts=parts,
                           chair=bool(row["chair"]),
                           prescriber_on_site=bool(row["prescriber_on_site"]),
                           prescriber_source=row["prescriber_source"],
                           min_days_apart=int(row.get("min_days_apart", 0)),
                           spacing_source=row.get("spacing_source", ""))


def default_hours() -> dict[int, tuple[time, time]]:
    """Opening hours by weekday (0 = Monday) for a site that has not set its own."""
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    rows = table()["default_hours"]
    return {names.index(day): (time.fromisoformat(v[0]), time.fromisoformat(v[1]))
            for day, v in rows.items() if day in names}
