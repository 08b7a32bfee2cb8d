"""Reading HTML form posts into the same Pydantic schemas the API uses, and running a page's form
action: done, go on; refused, the page again with the messages and nothing kept."""

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic.errors import Conflict, DomainError, FieldProblem, InvalidInput
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


async def posted_form(request: Request) -> FormData:
    """The posted form, read before the page's (plain, threaded) handler runs."""
    return await request.form()


# A page handler takes the form as `form: FormData = FORM` and stays a plain `def`, so its
# database work runs in the thread pool rather than on the event loop.
FORM: Any = Depends(posted_form)


def form_values(form: FormData) -> dict[str, str]:
    """What was typed, to fill the form again when it is shown with its errors."""
    return {key: str(value) for key, value in form.items() if key not in IGNORED_FIELDS}


ResultT = TypeVar("ResultT")


def form_action(db: Session, action: Callable[[], ResultT], *,
                done: str | Callable[[ResultT], str],
                again: Callable[[list[str], int], Response],
                refusals: tuple[type[DomainError], ...] = (InvalidInput, Conflict)) -> Response:
    """Run a page's form action. Done: on to `done` (303, so a reload does not post again).
    Refused: what the action did is undone and `again` shows the page with the messages and the
    refusal's status. Any other error is not the user's and goes to the app's error handlers."""
    try:
        result = action()
    except refusals as exc:
        undo_refused(db, exc)
        return again(messages_of(exc), exc.status)
    return RedirectResponse(done(result) if callable(done) else done, status_code=303)
