"""The Spravato REMS monitoring form: filled from the session record (pure)."""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from ketaclinic.knowledge.medication_groups import medication_groups
from ketaclinic.knowledge.monitoring import AlarmLimits, Reading, alarms_for
from ketaclinic.knowledge.record import MedicationFact
from ketaclinic.knowledge.ruleset import RuleSet
from ketaclinic.knowledge.session_events import Noted
from ketaclinic.knowledge.tables import load_table


@cache
def rems_table() -> dict[str, Any]:
    """The REMS form table."""
    return load_table("rems")


def form_due_within() -> timedelta:
    """How long after an outpatient session its REMS monitoring form is due."""
    return timedelta(days=int(rems_table()["due_days"]))


@dataclass(frozen=True)
class RemsForm:
    """The fields of the patient monitoring form, as the record answers them."""

    patient_name: str
    birth_date: date
    sex: str
    concomitant: dict[str, bool]
    monitoring_provider: str
    site: str
    session_date: date
    dose_mg: float
    lot_number: str
    minutes_first_device_to_end_of_monitoring: int | None
    minutes_until_ready_to_leave: int | None
    vitals_acceptable_before_dosing: bool
    vitals_acceptable_at_discharge: bool | None
    bp_before_dosing: str
    bp_at_40_min: str
    bp_before_discharge: str
    sedation: bool
    dissociation: bool
    respiratory_depression: bool
    due_by: date

    def as_dict(self) -> dict[str, Any]:
        """The form as JSON-ready data."""
        data = asdict(self)
        for key in ("birth_date", "session_date", "due_by"):
            data[key] = data[key].isoformat()
        return data


def _bp(reading: Reading | None) -> str:
    if reading is None or reading.systolic_mmhg is None:
        return "not recorded"
    if reading.diastolic_mmhg is None:  # never a diastolic of 0 on the form
        return f"{reading.systolic_mmhg:g} systolic (no diastolic recorded)"
    return f"{reading.systolic_mmhg:g}/{reading.diastolic_mmhg:g}"


def concomitant_use(medications: list[MedicationFact], on: date) -> dict[str, bool]:
    """Whether the patient takes each group the form asks about, on the session day."""
    groups = medication_groups()
    return {key: any(groups[key].member_of(m) for m in medications if m.active_on(on))
            for key in rems_table()["concomitant_groups"]}


class CheckpointWindow(NamedTuple):
    """The minutes after the first device within which a reading is the form's "BP at 40 min"."""

    earliest_min: float
    latest_min: float


def checkpoint_window(ruleset: RuleSet) -> CheckpointWindow:
    """The clinic's tolerance around the label's 40 minutes, from its rule set."""
    return CheckpointWindow(ruleset.value("rems_bp_checkpoint_earliest_min"),
                            ruleset.value("rems_bp_checkpoint_latest_min"))


def fill(*, patient_name: str, birth_date: date, sex: str, medications: list[MedicationFact],
         provider: str, site: str, session_day: date, dose_mg: float, lot_number: str,
         first_device: datetime, monitoring_ended: datetime | None,
         ready_to_leave: datetime | None, readings: list[Reading], baseline: Reading | None,
         events: Sequence[Noted], pre_dose_ok: bool, discharged_cleanly: bool | None,
         alarms: AlarmLimits, window: CheckpointWindow) -> RemsForm:
    """The form's answers from the session record (its readings, scores and side effects), with
    respiratory depression read on the clinic's alarm limits, `alarms`, and the 40-minute
    pressure within the clinic's tolerance, `window`."""
    checkpoint = first_device + timedelta(minutes=rems_table()["bp_checkpoint_min"])
    earliest = first_device + timedelta(minutes=window.earliest_min)
    latest = first_device + timedelta(minutes=window.latest_min)
    # What the form asks of the monitoring is what followed the dose: a saturation of 92 or a
    # pressure taken before it is neither respiratory depression nor a pressure before discharge,
    # and a baseline CADSS or an arrival's MOAA/S is neither dissociation nor sedation.
    def monitoring(moment: datetime) -> bool:
        return moment >= first_device and (monitoring_ended is None or moment <= monitoring_ended)

    monitored = [r for r in readings if monitoring(r.taken)]
    noted = [e for e in events if monitoring(e.at)]
    moass = [e.value for e in noted if e.kind == "moass" and e.value is not None]
    cadss = [e.value for e in noted if e.kind == "cadss" and e.value is not None]
    with_bp = [r for r in monitored if r.systolic_mmhg is not None]
    near_40 = [r for r in with_bp if earliest <= r.taken <= latest]
    at_40 = min(near_40, key=lambda r: abs((r.taken - checkpoint).total_seconds()), default=None)
    respiratory = any(e.kind == "side-effect" and e.code == "respiratory-depression"
                      for e in noted) or any(
        a.kind in ("spo2-low", "respiratory-rate-low")
        for r in monitored for a in alarms_for(r, None, alarms))
    minutes = None
    if monitoring_ended is not None:
        minutes = int((monitoring_ended - first_device).total_seconds() // 60)
    until_ready = None
    if ready_to_leave is not None:
        until_ready = int((ready_to_leave - first_device).total_seconds() // 60)
    return RemsForm(
        patient_name=patient_name, birth_date=birth_date, sex=sex,
        concomitant=concomitant_use(medications, session_day), monitoring_provider=provider,
        site=site, session_date=session_day, dose_mg=float(dose_mg),
        lot_number=lot_number,
        minutes_first_device_to_end_of_monitoring=minutes, minutes_until_ready_to_leave=until_ready,
        vitals_acceptable_before_dosing=pre_dose_ok,
        vitals_acceptable_at_discharge=discharged_cleanly, bp_before_dosing=_bp(baseline),
        bp_at_40_min=_bp(at_40), bp_before_discharge=_bp(with_bp[-1] if with_bp else None),
        sedation=any(score < 5 for score in moass),
        dissociation=any(score > load_table("monitoring")["scales"]["cadss"]["dissociation_above"]
                         for score in cadss),
        respiratory_depression=respiratory,
        due_by=session_day + timedelta(days=rems_table()["due_days"]),
    )
