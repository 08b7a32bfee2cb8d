"""Input and output shapes for evaluations, consents and rule overrides."""

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.patients.schemas import InputModel
from ketaclinic.wire_types import Flag, IsoDate, IsoDateTime

Route = Literal["iv", "esketamine", "im", "oral"]


class EvaluationIn(InputModel):
    """Screen a stored patient for a route and indication."""

    route: Route
    indication: str = Field(default="depression", max_length=20)
    on: IsoDate | None = Field(default=None, description="screen as of this day; default today")


class SignIn(InputModel):
    """A prescriber's decision on a screened evaluation."""

    decision: Literal["start", "do-not-start"]
    caution_reasons: dict[str, str] = Field(default_factory=dict,
                                            description="benefit/risk reason per caution rule id")
    note: str = Field(default="", max_length=2000)
    weight_kg: float | None = Field(default=None, description="default: the latest weight")
    mg_per_kg: float | None = Field(default=None, gt=0, le=100)
    dose_mg: float | None = Field(default=None, gt=0, le=1000)
    dose_override_reason: str | None = Field(default=None, max_length=1000)
    plan_start: IsoDate | None = None
    plan_allow_consecutive: Flag = Field(
        default=False, description="the prescriber allows sessions on consecutive days")
    weight_change_confirmed: Flag = Field(
        default=False, description="dose by a weight far from the last charted one: it is right")


class ConsentIn(InputModel):
    """A consent the patient gave, to the current (or named) consent text."""

    consent_version: str | None = Field(default=None, max_length=60)
    given_on: IsoDate | None = None


class OverrideIn(InputModel):
    """A clinic's value for a rule parameter (null: back to the default), with the reason."""

    parameter: str = Field(min_length=1, max_length=80)
    value: float | None = Field(default=None, ge=0, le=100000)
    reason: str = Field(min_length=3, max_length=1000)


class EvaluationOut(BaseModel):
    """A stored evaluation."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    route: str
    indication: str
    screened_on: IsoDate
    decision: str
    ruleset_version: str
    overrides: dict[str, Any]
    findings: list[dict[str, Any]]
    status: str
    signed_decision: str | None
    signed_by: str | None
    signed_at: IsoDateTime | None
    caution_reasons: dict[str, str]
    sign_note: str
    dose: dict[str, Any] | None = Field(default=None, description="the signed dose of the course")
    plan: dict[str, Any] | None = Field(default=None, description="the course's dated plan")
    created_by: str
    created_at: IsoDateTime


class ConsentOut(BaseModel):
    """A recorded consent."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    consent_version: str
    text_sha256: str
    given_on: IsoDate
    status: str
    created_by: str
    created_at: IsoDateTime


class OverrideOut(BaseModel):
    """A rule parameter with its default, the value in force and the source."""

    parameter: str
    default: float
    value: float
    source: str
    overridden: bool
    accepted: str = Field(description="the range a clinic's value must lie in, and why")
    set_aside: str | None = Field(default=None, description=(
        "why the clinic's stored value is not in force: it lies outside the accepted range "
        "(stored before the range was checked); null when none is set aside"))
