"""Reading HTML form posts into the same Pydantic schemas the API uses."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic.errors import DomainError, FieldProblem, InvalidInput
from ketaclinic.field_problems import validation_problems

SchemaT = TypeVar("SchemaT", bound=BaseModel)
IGNORED_FIELDS = frozenset({"csrf_token"})


def parse_form(schema: type[SchemaT], form: FormData, extra: dict[str, str] | None = None) -> SchemaT:
    """The form as a schema instance; blank fields count as not given. Raises InvalidInput."""
    values: dict[str, object] = {
        key: value for key, value in form.items()
        if key not in IGNORED_FIELDS and isinstance(value, str) and value.strip() != ""
    }
    values.update(extra or {})
    return validate(schema, values)


def validate(schema: type[SchemaT], values: dict[str, object]) -> SchemaT:
    """The values as a schema instance, or InvalidInput naming each bad field."""
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput([FieldProblem(*found) for found in validation_problems(exc.errors())]
                           ) from None


def messages_of(exc: Exception) -> list[str]:
    """A refusal as lines for the page: one per field problem, or its detail."""
    if isinstance(exc, InvalidInput):
        return [p.text() for p in exc.problems]
    return [str(getattr(exc, "detail", exc))]


def undo_refused(db: Session, refusal: DomainError) -> None:
    """Roll back what a refused form action did before the page is shown again, unless the
    refusal keeps what it recorded (a discrepancy for the administrator); the request commits
    what is left when the page is answered."""
    if not refusal.keeps_changes:
        db.rollback()
