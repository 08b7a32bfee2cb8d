"""The permission table: which role may do what. The one place access is decided by role.

Record-level reach (which patients) is decided by `ketaclinic.kernel.reach`.
"""

from enum import StrEnum


class Role(StrEnum):
    """The one role each user has."""

    ADMIN = "admin"
    PRESCRIBER = "prescriber"
    NURSE = "nurse"
    FRONT_DESK = "front_desk"
    PATIENT = "patient"


class Permission(StrEnum):
    """Something a route or page lets a user do."""

    ACCOUNT = "account.self"  # log out, set up two-factor for oneself
    DASHBOARD = "dashboard.view"
    PATIENT_SEARCH = "patient.search"
    DEMOGRAPHICS_READ = "patient.demographics.read"
    DEMOGRAPHICS_WRITE = "patient.demographics.write"
    CLINICAL_READ = "patient.clinical.read"
    CLINICAL_WRITE = "patient.clinical.write"
    CLINICAL_SIGN = "clinical.sign"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    PORTAL = "portal.view"
    RULES_VIEW = "rules.view"
    RULES_MANAGE = "rules.manage"  # the medical director's overrides of rule-set defaults
    CLIENTS_MANAGE = "clients.manage"  # register and disable the systems that call in
    CDS_INVOKE = "cds.invoke"  # an EHR asking the CDS Hooks service about a patient
    MEASURES_WRITE = "measures.write"  # a patient's own questionnaire, or staff on their behalf
    LINKS_SEND = "measures.links.send"  # send a patient a personal questionnaire link
    ALERTS_FOLLOW_UP = "alerts.follow_up"  # see open alerts and record what was done
    OUTCOMES_VIEW = "outcomes.view"  # clinic outcome rates (aggregates)
    RESEARCH_EXPORT = "outcomes.export"  # the de-identified research export
    INVENTORY_USE = "inventory.use"  # draw, give and waste controlled substances at the chair
    INVENTORY_MANAGE = "inventory.manage"  # receive stock, transfer, adjust, reverse, reports
    INVENTORY_VIEW = "inventory.view"  # see stock, products and cabinets, and a session's figures
    SCHEDULE_VIEW = "schedule.view"  # the day and week views, appointments, failed reminders
    SCHEDULE_BOOK = "schedule.book"  # book, move, cancel, record no-shows, calendar feeds
    SCHEDULE_MANAGE = "schedule.manage"  # opening hours, closed days, shifts, chair routes
    BILLING_RECORD = "billing.record"  # estimates, charging sessions, payments, superbills
    BILLING_MANAGE = "billing.manage"  # the price list, packages and sliding-scale bands
    ENQUIRIES_VIEW = "enquiries.view"  # messages sent from the public decision aid


_R = Role
PERMISSION_TABLE: dict[Permission, frozenset[Role]] = {
    Permission.ACCOUNT: frozenset(Role),
    Permission.DASHBOARD: frozenset({_R.ADMIN, _R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK}),
    Permission.PATIENT_SEARCH: frozenset({_R.ADMIN, _R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK}),
    Permission.DEMOGRAPHICS_READ: frozenset(
        {_R.ADMIN, _R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK, _R.PATIENT}
    ),
    Permission.DEMOGRAPHICS_WRITE: frozenset({_R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK}),
    Permission.CLINICAL_READ: frozenset({_R.PRESCRIBER, _R.NURSE, _R.PATIENT}),
    Permission.CLINICAL_WRITE: frozenset({_R.PRESCRIBER, _R.NURSE}),
    Permission.CLINICAL_SIGN: frozenset({_R.PRESCRIBER}),
    Permission.USERS_MANAGE: frozenset({_R.ADMIN}),
    Permission.AUDIT_READ: frozenset({_R.ADMIN}),
    Permission.PORTAL: frozenset({_R.PATIENT}),
    Permission.RULES_VIEW: frozenset({_R.ADMIN, _R.PRESCRIBER, _R.NURSE}),
    Permission.RULES_MANAGE: frozenset({_R.PRESCRIBER}),
    Permission.CLIENTS_MANAGE: frozenset({_R.ADMIN}),
    Permission.CDS_INVOKE: frozenset({_R.PRESCRIBER, _R.NURSE}),
    Permission.MEASURES_WRITE: frozenset({_R.PRESCRIBER, _R.NURSE, _R.PATIENT}),
    Permission.LINKS_SEND: frozenset({_R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK}),
    Permission.ALERTS_FOLLOW_UP: frozenset({_R.PRESCRIBER, _R.NURSE}),
    Permission.OUTCOMES_VIEW: frozenset({_R.ADMIN, _R.PRESCRIBER}),
    Permission.RESEARCH_EXPORT: frozenset({_R.ADMIN, _R.PRESCRIBER}),
    Permission.INVENTORY_USE: frozenset({_R.PRESCRIBER, _R.NURSE}),
    Permission.INVENTORY_MANAGE: frozenset({_R.ADMIN, _R.PRESCRIBER}),
    Permission.INVENTORY_VIEW: frozenset({_R.ADMIN, _R.PRESCRIBER, _R.NURSE}),
    Permission.SCHEDULE_VIEW: frozenset({_R.ADMIN, _R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK}),
    Permission.SCHEDULE_BOOK: frozenset({_R.PRESCRIBER, _R.NURSE, _R.FRONT_DESK}),
    Permission.SCHEDULE_MANAGE: frozenset({_R.ADMIN}),
    Permission.BILLING_RECORD: frozenset({_R.ADMIN, _R.FRONT_DESK}),
    Permission.BILLING_MANAGE: frozenset({_R.ADMIN}),
    Permission.ENQUIRIES_VIEW: frozenset({_R.ADMIN, _R.FRONT_DESK, _R.PRESCRIBER}),
}

ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "Clinic administrator",
    Role.PRESCRIBER: "Prescriber",
    Role.NURSE: "Nurse",
    Role.FRONT_DESK: "Front desk",
    Role.PATIENT: "Patient",
}


# The page each role lands on after login: staff on the day's work at their site.
LANDING_PAGES: dict[Role, str] = {
    Role.ADMIN: "/dashboard",
    Role.PRESCRIBER: "/dashboard",
    Role.NURSE: "/dashboard",
    Role.FRONT_DESK: "/dashboard",
    Role.PATIENT: "/me",
}


# Registered clients acting with no user behind them: the most each kind may do (a backend
# service's token is narrowed further by its scopes, to the FHIR API of its own site).
CLIENT_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "backend-service": frozenset({Permission.CLINICAL_READ, Permission.DEMOGRAPHICS_READ}),
    "cds-client": frozenset({Permission.CDS_INVOKE}),
}


def allows(role: str, permission: Permission) -> bool:
    """Whether the permission table (or, for a registered client, its kind) lets this do this."""
    return role in PERMISSION_TABLE[permission] or permission in CLIENT_PERMISSIONS.get(
        role, frozenset())


# Routes anyone may call, logged in or not. Every other route must name a permission
# through `ketaclinic.web.deps.require`; a test fails for a route that does neither.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/"),
    ("GET", "/healthz"),
    ("GET", "/livez"),
    ("GET", "/favicon.ico"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/mfa"),
    ("POST", "/login/mfa"),
    ("GET", "/login/enrol"),
    ("POST", "/login/enrol"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/oauth/token"),  # OAuth 2.0: the client authenticates in the request
    ("GET", "/.well-known/smart-configuration"),  # SMART discovery: no patient data
    ("GET", "/fhir/.well-known/smart-configuration"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/oauth/jwks"),  # the public key of the id tokens
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("HEAD", "/api/v1/openapi.json"),
    ("HEAD", "/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("HEAD", "/docs/oauth2-redirect"),
    ("GET", "/static"),
    ("GET", "/fhir/metadata"),  # the CapabilityStatement: what the server supports, no patient data
    ("GET", "/q/{token}"),  # a patient's personal questionnaire link: the token is the credential
    ("POST", "/q/{token}"),
    ("GET", "/cds-services"),  # CDS Hooks discovery: describes the services, holds no patient data
    ("GET", "/calendar/{token}.ics"),
    # the public decision aid: nothing a visitor types is stored unless they send an enquiry
    ("GET", "/check"),
    ("POST", "/check"),
    ("GET", "/check/compare"),
    ("GET", "/check/prepare"),
    ("POST", "/check/enquiry"),  # a secret, revocable calendar feed: the token is the credential
})
