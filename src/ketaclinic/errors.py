"""Domain errors raised by services; the web and CLI faces translate them."""

import uuid
from dataclasses import dataclass

from ketaclinic.field_problems import label_of


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status = 400
    title = "Bad request"
    # A refusal that records something (a failed attempt, a discrepancy for the administrator)
    # keeps it: the request's work is committed rather than rolled back.
    keeps_changes = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def keeping_changes(self) -> "DomainError":
        """This refusal, keeping what the request recorded before it."""
        self.keeps_changes = True
        return self


@dataclass
class FieldProblem:
    """One invalid field: where it is, what is wrong, what is accepted."""

    field: str
    message: str
    accepted: str = ""

    def text(self) -> str:
        """The problem as one line for a person."""
        tail = f" (accepted: {self.accepted})" if self.accepted else ""
        return f"{label_of(self.field)}: {self.message}{tail}"


class InvalidInput(DomainError):
    """Input that fails validation; nothing was stored."""

    status = 422
    title = "Invalid input"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(p.text() for p in problems))
        self.problems = problems


class InvalidSearch(InvalidInput):
    """A FHIR search whose parameters are unknown or malformed: 400 Bad Request, as FHIR
    servers answer a search they cannot run (a resource that fails its rules stays 422)."""

    status = 400
    title = "Invalid search"


class NotFound(DomainError):
    """The record does not exist or is outside the caller's reach."""

    status = 404
    title = "Not found"


class OutOfReach(NotFound):
    """A patient id that does not exist or that the actor may not open (indistinguishable)."""

    def __init__(self, patient_id: str) -> None:
        super().__init__("No such patient in your sites.")
        self.patient_id = patient_id


class Forbidden(DomainError):
    """The caller's role does not allow this action."""

    status = 403
    title = "Forbidden"


class NotAuthenticated(DomainError):
    """No valid login or token."""

    status = 401
    title = "Not authenticated"


class RateLimited(DomainError):
    """Too many failed attempts from one place or at one account: wait and try again."""

    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class MustChangePassword(NotAuthenticated):
    """An administrator reset the password: nothing else until a new one is chosen."""


class Conflict(DomainError):
    """The request conflicts with the current state of a record."""

    status = 409
    title = "Conflict"


def invalid(field_name: str, message: str, accepted: str = "") -> InvalidInput:
    """An InvalidInput for a single field."""
    return InvalidInput(problems=[FieldProblem(field_name, message, accepted)])


def public_id(value: object, what: str) -> uuid.UUID:
    """A record's public UUID from a URL or body; NotFound naming `what` if it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"no such {what}") from None
