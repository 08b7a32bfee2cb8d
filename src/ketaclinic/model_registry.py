"""Imports every model so the app and Alembic see the same metadata."""

from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth.models import (
    AccessToken,
    ClientJwtSeen,
    OAuthCode,
    OAuthToken,
    RegisteredClient,
    User,
    user_site,
)
from ketaclinic.billing.models import (
    ChargeLine,
    Coverage,
    Instalment,
    Invoice,
    Package,
    Payment,
    PaymentPlan,
    PriceItem,
    PriorAuthorization,
    SlidingScaleBand,
)
from ketaclinic.clinics.models import Chair, Network, Site
from ketaclinic.courses.models import Course, CourseTransition, PlannedSession
from ketaclinic.db import Base
from ketaclinic.decision.models import Enquiry
from ketaclinic.evaluations.models import Consent, Evaluation, RuleOverride
from ketaclinic.fhir.export_models import ExportFile, ExportJob
from ketaclinic.fhir.models import ImportedResource
from ketaclinic.inventory.models import (
    Container,
    Discrepancy,
    LedgerRow,
    Lot,
    Product,
    StockCount,
    StockCountLine,
    StorageLocation,
)
from ketaclinic.measures.models import (
    CourseOutcome,
    CourseReview,
    Measure,
    MeasureAlert,
    MeasureAnswer,
    MeasureRequest,
)
from ketaclinic.patients.models import (
    Allergy,
    Condition,
    Medication,
    Patient,
    PatientMrn,
    VitalSigns,
)
from ketaclinic.scheduling.models import (
    Appointment,
    CalendarFeed,
    Reminder,
    SiteClosure,
    SiteHours,
    StaffAbsence,
    StaffShift,
)
from ketaclinic.treatments.models import (
    MonitorMessage,
    RemsFiling,
    SessionAddendum,
    SessionAlarm,
    SessionEvent,
    SessionReading,
    SessionReadingTally,
    TreatmentSession,
)

metadata = Base.metadata

__all__ = [
    "AccessToken",
    "Allergy",
    "Appointment",
    "AuditEvent",
    "CalendarFeed",
    "Chair",
    "ChargeLine",
    "ClientJwtSeen",
    "Condition",
    "Consent",
    "Container",
    "Course",
    "CourseOutcome",
    "CourseReview",
    "CourseTransition",
    "Coverage",
    "Discrepancy",
    "Enquiry",
    "Evaluation",
    "ExportFile",
    "ExportJob",
    "ImportedResource",
    "Instalment",
    "Invoice",
    "LedgerRow",
    "Lot",
    "Measure",
    "MeasureAlert",
    "MeasureAnswer",
    "MeasureRequest",
    "Medication",
    "MonitorMessage",
    "Network",
    "OAuthCode",
    "OAuthToken",
    "Package",
    "Patient",
    "PatientMrn",
    "Payment",
    "PaymentPlan",
    "PlannedSession",
    "PriceItem",
    "PriorAuthorization",
    "Product",
    "RegisteredClient",
    "Reminder",
    "RemsFiling",
    "RuleOverride",
    "SessionAddendum",
    "SessionAlarm",
    "SessionEvent",
    "SessionReading",
    "SessionReadingTally",
    "Site",
    "SiteClosure",
    "SiteHours",
    "SlidingScaleBand",
    "StaffAbsence",
    "StaffShift",
    "StockCount",
    "StockCountLine",
    "StorageLocation",
    "TreatmentSession",
    "User",
    "VitalSigns",
    "metadata",
    "user_site",
]
