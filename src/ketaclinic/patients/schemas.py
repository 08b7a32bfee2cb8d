"""Input and output shapes for the patient registry."""

import re
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ketaclinic.contact_details import EmailAddress, PhoneNumber
from ketaclinic.wire_types import Flag, IsoDate, IsoDateTime

Sex = Literal["female", "male", "other", "unknown"]
ConditionClinicalStatus = Literal["active", "recurrence", "relapse", "inactive", "remission",
                                  "resolved"]
# Where a condition is listed (FHIR Condition.category, US Core's three).
ConditionCategory = Literal["problem-list-item", "encounter-diagnosis", "health-concern"]
VerificationStatus = Literal["unconfirmed", "provisional", "differential", "confirmed", "refuted"]
MedicationStatus = Literal["active", "completed", "intended", "stopped", "on-hold", "unknown",
                           "not-taken"]
AllergyClinicalStatus = Literal["active", "inactive", "resolved"]
AllergyVerification = Literal["unconfirmed", "confirmed", "refuted"]
Criticality = Literal["low", "high", "unable-to-assess"]
AllergyKind = Literal["allergy", "intolerance"]
# A charted pregnancy test, pregnancy status or breastfeeding status: yes (positive, pregnant,
# breastfeeding) or no.
StatusAnswer = Literal["yes", "no"]


# What `_no_control_characters` enforces, said in the OpenAPI document of every free-text field.
PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _document_plain_text(schema: dict[str, Any]) -> None:
    for field in schema.get("properties", {}).values():
        for variant in (field, *field.get("anyOf", ())):
            if variant.get("type") == "string" and not {"pattern", "format", "enum", "const"
                                                        } & set(variant):
                variant["pattern"] = PLAIN_TEXT


class NumbersInputModel(BaseModel):
    """An input of numbers and times only: unknown fields refused, as in every input. It has no
    free text to check, so it skips InputModel's check of every field, which on a batch of 100
    vital-sign readings is 500 calls (tests/chart/test_input_models.py keeps text out of it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True,
                              json_schema_extra=_document_plain_text)


class InputModel(NumbersInputModel):
    """An input that may carry free text: control characters are refused in every text field."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
            raise ValueError("contains control characters; use plain text")
        return value


class PatientIn(InputModel):
    """A new patient: demographics, contact and the site that registers them."""

    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(min_length=1, max_length=100)
    birth_date: IsoDate
    sex: Sex
    phone: PhoneNumber = Field(default="", max_length=40)
    email: EmailAddress = Field(default="", max_length=254)
    address: str = Field(default="", max_length=500)
    emergency_contact_name: str = Field(default="", max_length=200)
    emergency_contact_phone: PhoneNumber = Field(default="", max_length=40)
    emergency_contact_relationship: str = Field(default="", max_length=60)
    site: str = Field(min_length=1, max_length=8, description="code of the registering site")
    mrn: str = Field(default="", max_length=40, description="blank: the site assigns the next MRN")


class PatientUpdate(InputModel):
    """Changes to a patient's demographics; omitted fields stay as they are."""

    family_name: str | None = Field(default=None, min_length=1, max_length=100)
    given_name: str | None = Field(default=None, min_length=1, max_length=100)
    birth_date: IsoDate | None = None
    sex: Sex | None = None
    phone: PhoneNumber | None = Field(default=None, max_length=40)
    email: EmailAddress | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=500)
    emergency_contact_name: str | None = Field(default=None, max_length=200)
    emergency_contact_phone: PhoneNumber | None = Field(default=None, max_length=40)
    emergency_contact_relationship: str | None = Field(default=None, max_length=60)
    deceased: Flag | None = Field(default=None, description="true: the patient has died; false: "
                                  "a death recorded in error is taken back")
    deceased_on: IsoDate | None = Field(default=None, description="the day the patient died, "
                                        "when known (it records the death)")


class MrnOut(BaseModel):
    """A medical record number at one site."""

    site: str
    mrn: str


class PatientOut(BaseModel):
    """Demographics and contact: what every role that may see a patient sees."""

    id: uuid.UUID
    family_name: str
    given_name: str
    birth_date: IsoDate
    sex: str
    phone: str
    email: str
    address: str
    emergency_contact_name: str
    emergency_contact_phone: str
    emergency_contact_relationship: str
    deceased: bool
    deceased_on: IsoDate | None
    mrns: list[MrnOut]


class CodedIn(InputModel):
    """A coded value: system (short name or URI), code and display text; or words alone (no
    system and no code), which screening reads as it reads an EHR's entry with no known code."""

    system: str = Field(default="", max_length=100, description=(
        "the code system; leave out with the code to record the entry in words"))
    code: str = Field(default="", max_length=40, description=(
        "the code; leave out with the system to record the entry in words"))
    display: str = Field(min_length=1, max_length=300, description="the entry in words")


class ConditionIn(CodedIn):
    """A new condition (diagnosis or problem)."""

    clinical_status: ConditionClinicalStatus = "active"
    verification_status: VerificationStatus = "confirmed"
    category: ConditionCategory = "problem-list-item"
    onset_date: IsoDate | None = None
    abatement_date: IsoDate | None = None
    note: str = Field(default="", max_length=1000)


class MedicationIn(CodedIn):
    """A medication the patient takes or took."""

    dose_value: float | None = Field(default=None, gt=0, le=100000)
    dose_unit: str = Field(default="", max_length=20)
    frequency: str = Field(default="", max_length=100)
    status: MedicationStatus = "active"
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    note: str = Field(default="", max_length=1000)


class AllergyIn(CodedIn):
    """An allergy or intolerance."""

    reaction: str = Field(default="", max_length=300)
    kind: AllergyKind | None = Field(
        default=None, description="allergy (immune-mediated) or intolerance; leave out if not known")
    criticality: Criticality = "unable-to-assess"
    clinical_status: AllergyClinicalStatus = "active"
    verification_status: AllergyVerification = "confirmed"


class VitalsIn(InputModel):
    """One set of vital signs; give at least one value. Ranges come from the plausibility table."""

    measured_at: IsoDateTime | None = Field(default=None, description="default: now")
    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    respiratory_rate_per_min: float | None = None
    spo2_pct: float | None = None
    temperature_c: float | None = None
    weight_kg: float | None = None
    height_cm: float | None = None
    weight_change_confirmed: Flag = Field(
        default=False, description="keep a weight far from the last charted one: it is right")


class StatusObservationIn(InputModel):
    """A pregnancy test, pregnancy status or breastfeeding status; screening reads a recent
    'yes' as it reads a pregnancy or breastfeeding on the problem list."""

    code: str = Field(max_length=40, description="the LOINC code of what was observed: 82810-3 "
                      "pregnancy status, 2106-3 hCG urine, 2118-8 hCG serum or plasma, 63895-7 "
                      "breastfeeding status")
    answer: StatusAnswer = Field(description="yes: pregnant, a positive test, breastfeeding; no: "
                                             "not")
    taken_at: IsoDateTime | None = Field(default=None, description="default: now")


class EnteredInErrorIn(InputModel):
    """Why an entry is being marked entered-in-error."""

    reason: str = Field(min_length=3, max_length=500)


class _EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: IsoDateTime
    created_by: str
    error_reason: str | None
    error_marked_by: str | None
    error_marked_at: IsoDateTime | None


class ConditionOut(_EntryOut):
    """A recorded condition."""

    system: str
    code: str
    display: str
    clinical_status: str
    verification_status: str
    category: str
    onset_date: IsoDate | None
    abatement_date: IsoDate | None
    note: str


class MedicationOut(_EntryOut):
    """A recorded medication."""

    system: str
    code: str
    display: str
    dose_value: float | None
    dose_unit: str
    frequency: str
    status: str
    start_date: IsoDate | None
    end_date: IsoDate | None
    note: str


class AllergyOut(_EntryOut):
    """A recorded allergy."""

    system: str
    code: str
    display: str
    reaction: str
    kind: str | None
    criticality: str
    clinical_status: str
    verification_status: str


class VitalsOut(_EntryOut):
    """A recorded set of vital signs."""

    measured_at: IsoDateTime
    status: str
    systolic_mmhg: float | None
    diastolic_mmhg: float | None
    heart_rate_bpm: float | None
    respiratory_rate_per_min: float | None
    spo2_pct: float | None
    temperature_c: float | None
    weight_kg: float | None
    height_cm: float | None


class StatusObservationOut(_EntryOut):
    """A recorded pregnancy or breastfeeding observation, its answer as sent or charted."""

    system: str
    code: str
    display: str
    taken_at: IsoDateTime
    status: str
    value_system: str
    value_code: str
    value_display: str
    value_text: str
    value_boolean: bool | None
