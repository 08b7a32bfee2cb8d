"""Input and output shapes for measures, questionnaire links and alerts."""

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from ketaclinic.measures.models import Measure, MeasureAlert
from ketaclinic.patients.schemas import InputModel
from ketaclinic.wire_types import Flag, IsoDate, IsoDateTime

Occasion = Literal["baseline", "before-session", "end-of-induction", "follow-up", "ad-hoc"]


class MeasureIn(InputModel):
    """One completed form: the instrument and every item's answer in order (null: not asked)."""

    instrument: str = Field(min_length=1, max_length=20, description="phq9, gad7, pcl5, qids16, "
                            "madrs, pain, cssrs, moass, cadss")
    answers: list[int | None] = Field(min_length=1, max_length=40)
    occasion: Occasion = "ad-hoc"
    taken_at: IsoDateTime | None = Field(default=None, description="default: now")


class AlertOut(BaseModel):
    """An alert a measure raised and where its follow-up stands."""

    id: uuid.UUID
    rule: str
    severity: str
    message: str
    source: str
    prescriber: str | None
    raised_at: IsoDateTime
    escalate_at: IsoDateTime
    escalated_at: IsoDateTime | None
    closed_at: IsoDateTime | None
    closed_by: str | None
    action: str | None
    note: str


class MeasureOut(BaseModel):
    """A scored measure with every answer beside the total."""

    id: uuid.UUID
    instrument: str
    total: int | None
    band: str | None
    risk_level: str | None
    answers: list[int | None]
    taken_at: IsoDateTime
    source: str
    occasion: str
    status: str = "final"  # or entered-in-error
    alerts: list[AlertOut]


def alert_out(alert: MeasureAlert) -> AlertOut:
    """An alert row as output."""
    return AlertOut.model_validate(alert, from_attributes=True)


def measure_out(measure: Measure, answers: list[int | None], alerts: list[MeasureAlert]) -> MeasureOut:
    """A measure row, its answers and alerts as output."""
    return MeasureOut(id=measure.id, instrument=measure.instrument, total=measure.total,
                      band=measure.band, risk_level=measure.risk_level, answers=answers,
                      taken_at=measure.taken_at, source=measure.source, occasion=measure.occasion,
                      status=measure.status, alerts=[alert_out(a) for a in alerts])


class FollowUpIn(InputModel):
    """What a clinician did about an alert."""

    action: str = Field(min_length=1, max_length=40)
    note: str = Field(min_length=3, max_length=2000)


class LinkIn(InputModel):
    """Send the patient a questionnaire link (instruments default to the course's)."""

    occasion: Occasion = "before-session"
    instruments: list[str] | None = Field(default=None, max_length=6)
    due_on: IsoDate | None = None
    email: Flag = True


class LinkOut(BaseModel):
    """A link created; the URL is shown once (only its hash is stored)."""

    id: uuid.UUID
    url: str
    instruments: list[str]
    expires_at: IsoDateTime
    sent_to: str
    send_error: str
