"""Every error an API operation can answer, documented in the OpenAPI document: RFC 9457
problem+json on /api and the CDS service, an OperationOutcome on /fhir, an error page on the
calendar feeds (what problems.py and the edge limits send)."""

from typing import Any

from fastapi import FastAPI

from ketaclinic.web.deps import BEARER_PREFIXES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"},
            "accepted": {"type": "string"}}}}}}
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                   "issue": {"type": "array", "items": {"type": "object"}}}}
PAGE_SCHEMA: dict[str, Any] = {"type": "string"}
ERRORS = {
    400: "Malformed request (such as JSON nested too deep)",
    401: "No valid login or token",
    403: "The caller's role may not do this, or a witness could not be confirmed",
    404: "No such record within the caller's reach",
    409: "The request conflicts with the record's state",
    413: "The request body is larger than the limit",
    422: "Invalid input: each bad field with what it accepts; nothing was stored",
    429: "Too many failed sign-ins: wait (Retry-After) and try again",
}


def document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document list the error answers of every API operation (FastAPI's
    own 422 entry is replaced: errors are problem+json, or an OperationOutcome on /fhir)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            fhir = path == "/fhir" or path.startswith("/fhir/")
            media, body = (
                ("application/fhir+json", OUTCOME_SCHEMA) if fhir
                else ("application/problem+json", PROBLEM_SCHEMA) if path.startswith(BEARER_PREFIXES)
                else ("text/html", PAGE_SCHEMA))
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if fhir:  # FHIR answers in application/fhir+json
                    for success in ("200", "201"):
                        content = responses.get(success, {}).get("content")
                        if content is not None and "application/json" in content:
                            content.setdefault("application/fhir+json", content["application/json"])
                for code, description in ERRORS.items():
                    documented = responses.get(str(code), {})
                    if code != 422 and documented.get("content"):
                        continue  # the route documents this answer itself
                    if code != 422:
                        description = documented.get("description", description)
                    responses[str(code)] = {"description": description,
                                            "content": {media: {"schema": body}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
