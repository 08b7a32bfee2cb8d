"""Input and output shapes for the scheduling API."""

import uuid
from datetime import time

from pydantic import BaseModel, Field

from ketaclinic.patients.schemas import InputModel
from ketaclinic.wire_types import IsoDate, IsoDateTime


class AppointmentIn(InputModel):
    """One appointment to book."""

    patient_id: uuid.UUID
    site: str = Field(min_length=1, max_length=8, description="site code")
    kind: str = Field(min_length=1, max_length=20,
                      description="iv, esketamine, im, oral, evaluation, follow-up, integration")
    starts_at: IsoDateTime
    chair_id: uuid.UUID | None = None
    evaluation_id: uuid.UUID | None = None
    course_session: int | None = Field(default=None, ge=1, le=100)
    note: str = Field(default="", max_length=500)


class MoveIn(InputModel):
    """A new time (and optionally chair) for one appointment."""

    starts_at: IsoDateTime
    chair_id: uuid.UUID | None = None


class CancelIn(InputModel):
    """Why the appointment is cancelled."""

    reason: str = Field(min_length=3, max_length=500)


class AppointmentOut(BaseModel):
    """An appointment as stored."""

    id: uuid.UUID
    kind: str
    status: str
    starts_at: IsoDateTime
    ends_at: IsoDateTime
    chair: str | None
    course_session: int | None
    late_cancel: bool


class ProposalIn(InputModel):
    """Where and at what local time to book a course's unbooked sessions."""

    site: str = Field(min_length=1, max_length=8)
    at: time = Field(description="local time of day, e.g. 09:00")


class AlternativeOut(BaseModel):
    """A valid slot instead of the one asked for."""

    starts_at: IsoDateTime
    chair: str | None


class SlotProposalOut(BaseModel):
    """One planned session: the slot asked for, why it does not fit, and alternatives."""

    course_session: int
    planned_day: IsoDate
    starts_at: IsoDateTime
    chair: str | None
    problems: list[str]
    alternatives: list[AlternativeOut]


class SlotIn(InputModel):
    """One chosen slot of a series."""

    course_session: int = Field(ge=1, le=100)
    starts_at: IsoDateTime


class SeriesIn(InputModel):
    """The slots chosen for a course's sessions, booked together or not at all."""

    site: str = Field(min_length=1, max_length=8)
    slots: list[SlotIn] = Field(min_length=1, max_length=60)


class FeedIn(InputModel):
    """Whose calendar: a patient's (by id) or, when none is given, the caller's own."""

    patient_id: uuid.UUID | None = None


class FeedOut(BaseModel):
    """The secret URL (shown once) and the feed's id for revoking it."""

    id: uuid.UUID
    url: str


class ReminderOut(BaseModel):
    """A reminder's state."""

    id: uuid.UUID
    appointment_id: uuid.UUID
    status: str
    attempts: int
    last_error: str
    next_attempt_at: IsoDateTime
    sent_at: IsoDateTime | None
