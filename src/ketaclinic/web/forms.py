"""Reading HTML form posts into the same Pydantic schemas the API uses."""

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import FieldProblem, InvalidInput
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
