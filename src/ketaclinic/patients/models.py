"""Tables for patients and their clinical history. Clinical rows are corrected, never deleted."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketaclinic.clinics.models import Site
from ketaclinic.db import Base, RecordMixin, UTCDateTime

ENTERED_IN_ERROR = "entered-in-error"


class Patient(RecordMixin, Base):
    """A person the clinic treats or evaluates."""

    __tablename__ = "patient"

    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    emergency_contact_name: Mapped[str] = mapped_column(String(200), default="")
    emergency_contact_phone: Mapped[str] = mapped_column(String(40), default="")
    emergency_contact_relationship: Mapped[str] = mapped_column(String(60), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # A patient who has died (FHIR Patient.deceased[x]): not screened, booked or reminded; the
    # day when known.
    deceased: Mapped[bool] = mapped_column(default=False)
    deceased_on: Mapped[date | None] = mapped_column(Date, default=None)
    # Lower-cased name for case-insensitive search on every database.
    search_name: Mapped[str] = mapped_column(String(201), index=True)

    mrns: Mapped[list["PatientMrn"]] = relationship(
        back_populates="patient", order_by="PatientMrn.pk", cascade="save-update"
    )
    conditions: Mapped[list["Condition"]] = relationship(order_by="Condition.pk")
    medications: Mapped[list["Medication"]] = relationship(order_by="Medication.pk")
    allergies: Mapped[list["Allergy"]] = relationship(order_by="Allergy.pk")
    vitals: Mapped[list["VitalSigns"]] = relationship(order_by="VitalSigns.measured_at")
    status_observations: Mapped[list["StatusObservation"]] = relationship(
        order_by="StatusObservation.taken_at")

    @property
    def full_name(self) -> str:
        """Given then family name."""
        return f"{self.given_name} {self.family_name}"

    @property
    def site_pks(self) -> set[int]:
        """The sites where this patient has a medical record number."""
        return {m.site_pk for m in self.mrns}


class PatientMrn(RecordMixin, Base):
    """A medical record number: unique within its site."""

    __tablename__ = "patient_mrn"
    __table_args__ = (UniqueConstraint("site_pk", "mrn"),)

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"))
    site_pk: Mapped[int] = mapped_column(ForeignKey("site.pk", ondelete="RESTRICT"))
    mrn: Mapped[str] = mapped_column(String(40), index=True)
    patient: Mapped[Patient] = relationship(back_populates="mrns")
    site: Mapped[Site] = relationship()


class CorrectableMixin:
    """Who marked a clinical row entered-in-error, when and why."""

    error_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    error_marked_by: Mapped[str | None] = mapped_column(String(150), default=None)
    error_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CodedMixin:
    """A coded value: system URI, code and display text, and the entry's other codings as an EHR
    sent them ({"system", "code", "display"} each; None for none), which screening reads too: an
    EHR's ICD-10-CM code may be the one a rule knows where its SNOMED CT code is not."""

    system: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(40))
    display: Mapped[str] = mapped_column(String(300))
    other_codings: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)


class Condition(CodedMixin, CorrectableMixin, RecordMixin, Base):
    """A coded problem or diagnosis with its clinical and verification status."""

    __tablename__ = "condition"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    clinical_status: Mapped[str] = mapped_column(String(20))
    verification_status: Mapped[str] = mapped_column(String(20), default="confirmed")
    # problem-list-item, encounter-diagnosis or health-concern (schemas.ConditionCategory)
    category: Mapped[str] = mapped_column(String(30), default="problem-list-item",
                                          server_default="problem-list-item")
    onset_date: Mapped[date | None] = mapped_column(Date, default=None)
    abatement_date: Mapped[date | None] = mapped_column(Date, default=None)
    note: Mapped[str] = mapped_column(String(1000), default="")


class Medication(CodedMixin, CorrectableMixin, RecordMixin, Base):
    """A medication the patient takes or took (a statement, not an order)."""

    __tablename__ = "medication"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    dose_value: Mapped[float | None] = mapped_column(Float, default=None)
    dose_unit: Mapped[str] = mapped_column(String(20), default="")
    frequency: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date | None] = mapped_column(Date, default=None)
    end_date: Mapped[date | None] = mapped_column(Date, default=None)
    note: Mapped[str] = mapped_column(String(1000), default="")


class Allergy(CodedMixin, CorrectableMixin, RecordMixin, Base):
    """An allergy or intolerance to a coded substance."""

    __tablename__ = "allergy"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    reaction: Mapped[str] = mapped_column(String(300), default="")
    # allergy (immune-mediated) or intolerance, as FHIR's AllergyIntolerance.type; None: not stated
    kind: Mapped[str | None] = mapped_column(String(20), default=None)
    criticality: Mapped[str] = mapped_column(String(20), default="unable-to-assess")
    clinical_status: Mapped[str] = mapped_column(String(20), default="active")
    verification_status: Mapped[str] = mapped_column(String(20), default="confirmed")


class VitalSigns(CorrectableMixin, RecordMixin, Base):
    """One set of vital signs and body measurements taken at one time."""

    __tablename__ = "vital_signs"
    # The chart reads a patient's readings newest first, a page at a time.
    __table_args__ = (Index("ix_vital_signs_patient_time", "patient_pk", "measured_at", "pk"),)

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(20), default="final")
    systolic_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    diastolic_mmhg: Mapped[float | None] = mapped_column(Float, default=None)
    heart_rate_bpm: Mapped[float | None] = mapped_column(Float, default=None)
    respiratory_rate_per_min: Mapped[float | None] = mapped_column(Float, default=None)
    spo2_pct: Mapped[float | None] = mapped_column(Float, default=None)
    temperature_c: Mapped[float | None] = mapped_column(Float, default=None)
    weight_kg: Mapped[float | None] = mapped_column(Float, default=None)
    height_cm: Mapped[float | None] = mapped_column(Float, default=None)


class StatusObservation(CodedMixin, CorrectableMixin, RecordMixin, Base):
    """An observation that says whether the patient is pregnant or breastfeeding: a pregnancy
    status, an hCG test or a breastfeeding status (knowledge/data/status_observations.toml),
    coded by its LOINC code, with its answer as a coding, words or yes/no."""

    __tablename__ = "status_observation"

    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"), index=True)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="final")
    value_system: Mapped[str] = mapped_column(String(100), default="")
    value_code: Mapped[str] = mapped_column(String(40), default="")
    value_display: Mapped[str] = mapped_column(String(300), default="")
    value_text: Mapped[str] = mapped_column(String(300), default="")
    value_boolean: Mapped[bool | None] = mapped_column(Boolean, default=None)


class VitalSignsTally(Base):
    """A part of a patient's chart vital-signs tally: how many of their vital-signs rows hold
    each vital sign. A patient's tally is the sum of their parts, at most as many as writers
    were ever in flight for them at once (ketaclinic.patients.vitals_tally), so a search of a
    long chart counts its Observations without reading them. Derived: recounted from the rows
    whenever asked."""

    __tablename__ = "vital_signs_tally"

    pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    patient_pk: Mapped[int] = mapped_column(ForeignKey("patient.pk", ondelete="RESTRICT"),
                                            index=True)
    sets: Mapped[int] = mapped_column(Integer)  # rows: sets of vital signs
    blood_pressure: Mapped[int] = mapped_column(Integer)  # systolic or diastolic present
    heart_rate: Mapped[int] = mapped_column(Integer)
    respiratory_rate: Mapped[int] = mapped_column(Integer)
    spo2: Mapped[int] = mapped_column(Integer)
    temperature: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
