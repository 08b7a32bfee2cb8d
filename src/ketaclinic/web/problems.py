"""Turning errors into RFC 9457 problem+json on the API and friendly pages in the browser."""

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as NoConnectionFree
from starlette.exceptions import HTTPException as StarletteHTTPException

from ketaclinic.audit import service as audit
from ketaclinic.errors import (
    DomainError,
    FieldProblem,
    InvalidInput,
    MustChangePassword,
    NotAuthenticated,
    OutOfReach,
    RateLimited,
)
from ketaclinic.field_problems import validation_problems, with_known_fields
from ketaclinic.web.deps import READ_METHODS, is_api
from ketaclinic.web.operation_outcome import operation_outcome
from ketaclinic.web.templating import render
from ketaclinic.worker_threads import in_thread

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def is_fhir(request: Request) -> bool:
    """Whether the request is for the FHIR face (errors as OperationOutcome)."""
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


def _api_error(request: Request, status: int, title: str, detail: str,
               errors: list[dict[str, str]] | None = None) -> JSONResponse:
    if is_fhir(request):
        return operation_outcome(status, detail, errors)
    return problem(status, title, detail, **({"errors": errors} if errors is not None else {}))


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem response."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: InvalidInput) -> list[dict[str, str]]:
    return [{"field": p.field, "message": p.message, "accepted": p.accepted} for p in exc.problems]


async def on_domain_error(request: Request, exc: Exception) -> Response:
    """A service said no: show why, in the form the caller understands."""
    assert isinstance(exc, DomainError)
    if isinstance(exc, OutOfReach):
        # Its own short transaction, in a worker thread: the event loop never waits on the database.
        await in_thread(_audit_out_of_reach, request, exc)
    if is_api(request):
        errors = _field_errors(exc) if isinstance(exc, InvalidInput) else None
        response: Response = _api_error(request, exc.status, exc.title, exc.detail, errors)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    if isinstance(exc, MustChangePassword):
        return RedirectResponse("/account/password", status_code=303)
    if isinstance(exc, NotAuthenticated):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return render(request, "error.html", status_code=exc.status, title=exc.title,
                  detail=exc.detail)


def _audit_out_of_reach(request: Request, exc: OutOfReach) -> None:
    actor = getattr(request.state, "actor", None)
    if actor is None:
        return
    audit.record_now(actor=actor, action="denied", record_type="Patient", record_id=exc.patient_id[:64],
                     patient_id=exc.patient_id[:64], detail=f"{request.method} {request.url.path}")


async def on_validation_error(request: Request, exc: Exception) -> Response:
    """Request fields that fail their declared types or ranges: 422 naming each field."""
    assert isinstance(exc, RequestValidationError)
    errors = with_known_fields([_named_json_error(e) for e in exc.errors()],
                               _body_annotation(request))
    problems = [FieldProblem(*found) for found in validation_problems(
        errors, dropped=("body", "query", "path", "header", "cookie"), whole="body")]
    return _api_error(request, 422, "Invalid input", "; ".join(p.text() for p in problems),
                      _field_errors(InvalidInput(problems)))


def _named_json_error(error: dict[str, Any]) -> dict[str, Any]:
    """A body that is not JSON named as the body, with where its reading stopped (FastAPI puts
    the character's position where the field goes)."""
    if error.get("type") != "json_invalid":
        return error
    where = error.get("loc", ())[1:2]
    reason = str((error.get("ctx") or {}).get("error", "unreadable"))
    return {**error, "loc": ("body",),
            "msg": f"is not JSON ({reason}{f' at character {where[0]}' if where else ''})",
            "ctx": {"expected": "a JSON object"}}


def _body_annotation(request: Request) -> Any:
    """The type the matched route declares for its request body (None if it takes none)."""
    body = getattr(request.scope.get("route"), "body_field", None)
    return getattr(getattr(body, "field_info", None), "annotation", None)


def _wants_json(request: Request) -> bool:
    """Whether an error is answered as data (API and FHIR calls, clients not asking for a
    page) rather than as the error page."""
    return is_api(request) or not request.headers.get("accept", "").startswith("text/html")


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Framework errors (404 for an unknown path, 405 ...) in the caller's format."""
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    if _wants_json(request):
        response: Response = _api_error(request, exc.status_code, title, str(exc.detail))
    else:
        response = render(request, "error.html", status_code=exc.status_code, title=title,
                          detail=str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(allowed_methods(request))
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods of the most specific route templates matching the request's path (Starlette
    names only the first route's, though GET and POST of one path are often two routes; a
    template with fewer parameters, such as /fhir/$export, wins over /fhir/{resource_type})."""
    by_parameters: dict[int, set[str]] = {}
    for context in iter_route_contexts(request.app.routes):
        pattern = getattr(context.route, "path_regex", None)
        if context.methods and pattern is not None and pattern.match(request.url.path):
            found = by_parameters.setdefault(str(context.path).count("{"), set())
            found |= set(context.methods) | ({"HEAD"} if "GET" in context.methods else set())
    return sorted(by_parameters[min(by_parameters)]) if by_parameters else []


async def on_unstorable_value(request: Request, exc: Exception) -> Response:
    """A value the database cannot hold (a guard above should have caught it): 422, not 500."""
    log.warning("database refused a value on %s %s: %s", request.method, request.url.path, exc)
    detail = "A value could not be stored (unsupported characters or out of range); nothing was saved."
    if is_api(request):
        return _api_error(request, 422, "Invalid input", detail)
    return render(request, "error.html", status_code=422, title="Invalid input", detail=detail)


BUSY_RETRY_AFTER_S = 2


async def on_no_connection_free(request: Request, exc: Exception) -> Response:
    """Every database connection stayed busy while the request waited for one (the server is
    overloaded, nothing is wrong with the request): 503 with when to try again, nothing saved."""
    log.warning("no database connection came free for %s %s: %s", request.method,
                request.url.path, exc)
    return _try_again(request, "Busy", "The server is busy; nothing was saved. Try again in a "
                                       "few seconds.")


async def on_database_error(request: Request, exc: Exception) -> Response:
    """The request's database connection was lost (the database restarted, or its network
    dropped): 503 with when to try again; the pool connects afresh for the next request.
    Any other operational error is unexpected."""
    if not getattr(exc, "connection_invalidated", False):
        return await on_unexpected_error(request, exc)
    log.warning("the database connection was lost during %s %s: %s", request.method,
                request.url.path, exc)
    detail = "The connection to the database was lost. Try again in a few seconds."
    if request.method not in READ_METHODS:
        detail += " Check whether the change was saved before making it again."
    return _try_again(request, "Database unavailable", detail)


def _try_again(request: Request, title: str, detail: str) -> Response:
    if _wants_json(request):
        response: Response = _api_error(request, 503, title, detail)
    else:
        response = render(request, "error.html", status_code=503, title=title, detail=detail)
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: log it, tell the caller without leaking internals."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _api_error(request, 500, "Internal error", "Something went wrong; nothing was saved.")


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DataError, on_unstorable_value)
    app.add_exception_handler(OverflowError, on_unstorable_value)
    app.add_exception_handler(NoConnectionFree, on_no_connection_free)
    app.add_exception_handler(OperationalError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected_error)
