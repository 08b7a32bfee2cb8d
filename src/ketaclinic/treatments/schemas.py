"""Input and output shapes for treatment sessions and their readings."""

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.patients.schemas import InputModel


class SessionIn(InputModel):
    """Check a patient in at a chair for a signed course."""

    evaluation_id: uuid.UUID
    chair_id: uuid.UUID


class ReadingIn(InputModel):
    """One set of vital signs (at least one value); ranges come from the plausibility table."""

    taken_at: datetime | None = Field(default=None, description="default: now")
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    respiratory_rate_per_min: float | None = None
    spo2_pct: float | None = None
    temperature_c: float | None = None


class ReadingsIn(InputModel):
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
    raised_at: datetime
    acknowledged_by: str | None


class ReadingsOut(BaseModel):
    """What a batch stored and which alarms it raised."""

    stored: int
    alarms: list[AlarmOut]
