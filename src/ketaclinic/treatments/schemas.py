"""Input and output shapes for treatment sessions and their readings."""

import uuid

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.patients.schemas import InputModel, NumbersInputModel
from ketaclinic.wire_types import Flag, IsoDateTime


class SessionIn(InputModel):
    """Check a patient in at a chair for a signed course."""

    evaluation_id: uuid.UUID
    chair_id: uuid.UUID


class ReadingIn(NumbersInputModel):
    """One set of vital signs (at least one value); ranges come from the plausibility table."""

    taken_at: IsoDateTime | None = Field(default=None, description="default: now")
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    respiratory_rate_per_min: float | None = None
    spo2_pct: float | None = None
    temperature_c: float | None = None


class ReadingsIn(NumbersInputModel):
    """A batch of readings, stored all or nothing."""

    readings: list[ReadingIn] = Field(min_length=1, max_length=1000)


class AlarmOut(BaseModel):
    """An alarm raised by a reading."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    value: float
    message: str
    source: str
    raised_at: IsoDateTime
    acknowledged_by: str | None


class ReadingsOut(BaseModel):
    """What a batch stored and which alarms it raised."""

    stored: int
    alarms: list[AlarmOut]


class AcknowledgeIn(InputModel):
    """What the nurse did about an alarm."""

    note: str = Field(min_length=3, max_length=1000)


class ReadingOut(BaseModel):
    """A stored reading."""

    taken: IsoDateTime
    systolic_mmhg: float | None
    diastolic_mmhg: float | None
    heart_rate_bpm: float | None
    respiratory_rate_per_min: float | None
    spo2_pct: float | None
    temperature_c: float | None


class AlarmStateOut(AlarmOut):
    """An alarm with its acknowledgement."""

    acknowledged_at: IsoDateTime | None
    acknowledgement_note: str


class DueOut(BaseModel):
    """The next reading due."""

    at: IsoDateTime
    overdue: bool
    every_min: float
    source: str


class MissingOut(BaseModel):
    """A discharge criterion not yet met."""

    criterion: str
    message: str
    source: str


class SessionStatusOut(BaseModel):
    """A session as the chair-side page shows it."""

    id: uuid.UUID
    route: str
    status: str
    checked_in_at: IsoDateTime
    dose_start: IsoDateTime | None
    dose_end: IsoDateTime | None
    reading_count: int = Field(description="how many readings the session has")
    readings: list[ReadingOut]
    alarms: list[AlarmStateOut]
    next_reading_due: DueOut | None
    pre_dose_problem: str | None
    pre_dose_overridden: bool = Field(
        default=False, description="a prescriber's recorded reason covers the pre-dose problem")
    discharge_missing: list[MissingOut]


class ChecksIn(InputModel):
    """The nurse's confirmations at check-in (automatic checks are worked out)."""

    confirmations: dict[str, bool] = Field(default_factory=dict)


class WeightIn(InputModel):
    """Today's weight, taken at check-in."""

    weight_kg: float
    weight_change_confirmed: Flag = Field(
        default=False, description="keep a weight far from the last charted one: it is right")


class ReasonIn(InputModel):
    """A prescriber's recorded reason for going ahead despite a rule."""

    reason: str = Field(min_length=3, max_length=1000)


class DoseStartIn(InputModel):
    """What was given: dose, lot, the ordering prescriber; esketamine device times."""

    dose_mg: float = Field(gt=0, le=1000)
    lot_number: str = Field(min_length=1, max_length=40)
    ordered_by: str = Field(min_length=1, max_length=150, description="the prescriber's username")
    started_at: IsoDateTime | None = None
    device_times: list[IsoDateTime] = Field(default_factory=list, max_length=10,
                                         description="esketamine: when each device was used")
    dose_override_reason: str | None = Field(default=None, max_length=1000)


class DoseEndIn(InputModel):
    """When dosing ended (default now)."""

    ended_at: IsoDateTime | None = None


class EventIn(InputModel):
    """A score (moass, cadss), a side effect or an intervention."""

    kind: str = Field(pattern="^(moass|cadss|side-effect|intervention)$")
    code: str = Field(default="", max_length=40)
    value: float | None = None
    note: str = Field(default="", max_length=1000)
    at: IsoDateTime | None = None


class DischargeIn(InputModel):
    """The nurse's confirmations at discharge."""

    escort_present: Flag
    driving_warning_given: Flag


class AddendumIn(InputModel):
    """A correction or addition to a closed record."""

    text: str = Field(min_length=3, max_length=4000)


class MonitorMessageOut(BaseModel):
    """A monitor message on the review list: what came, where it went, what was done."""

    id: uuid.UUID
    received_at: IsoDateTime
    peer: str
    control_id: str
    status: str = Field(description="rejected, unmatched, partial (stored with observations "
                        "set aside, named in reason); once resolved: attached")
    ack_code: str
    reason: str
    site: str | None = Field(description="the site's code (None: routed to no site)")
    chair: str | None
    readings: int = Field(description="readings kept from it (unmatched messages)")
    reviewed_at: IsoDateTime | None
    reviewed_by: str | None
    review_note: str
    raw: str


class AttachIn(InputModel):
    """The open session of the message's site its readings belong to."""

    treatment_session_id: uuid.UUID


class ReviewIn(InputModel):
    """What was done about the message."""

    note: str = Field(min_length=3, max_length=1000)


class ReviewAllIn(InputModel):
    """What was done about every message the review list gives for these filters, up to the
    newest it gave (`through`, its `X-Review-Through` header)."""

    note: str = Field(min_length=3, max_length=1000)
    through: str = Field(pattern=r"^[0-9]{1,18}$",
                         description="the X-Review-Through header of the list with these filters")
    site: str = Field(default="", max_length=20, description="a site code of yours")
    chair: str = Field(default="", max_length=36, description="the id of a chair of your sites")
    status: str = Field(default="", max_length=20, description="rejected or unmatched (both)")
    since: str = Field(default="", max_length=10, description="received on or after (YYYY-MM-DD)")
    until: str = Field(default="", max_length=10, description="received on or before (YYYY-MM-DD)")


class ReviewedOut(BaseModel):
    """How many messages were closed as reviewed."""

    reviewed: int
