"""FHIR errors: an OperationOutcome with the HTTP status, in application/fhir+json."""

from typing import Any

from fastapi.responses import JSONResponse

from ketaclinic.web.fast_json import FastJSONResponse

FHIR_JSON = "application/fhir+json"
ISSUE_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
               409: "conflict", 410: "deleted", 412: "conflict", 413: "too-costly", 422: "invalid",
               429: "throttled", 500: "exception"}


def operation_outcome(status: int, diagnostics: str,
                      problems: list[dict[str, str]] | None = None) -> JSONResponse:
    """An OperationOutcome naming each problem (field as the expression, accepted values)."""
    code = ISSUE_CODES.get(status, "processing")
    issues: list[dict[str, Any]] = [
        {"severity": "error", "code": code, "expression": [p["field"]],
         "diagnostics": f"{p['field']}: {p['message']}"
                        + (f" (accepted: {p['accepted']})" if p.get("accepted") else "")}
        for p in problems or []]
    if not issues:
        issues = [{"severity": "error" if status >= 400 else "information", "code": code,
                   "diagnostics": diagnostics}]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return FastJSONResponse({"resourceType": "OperationOutcome", "issue": issues}, status_code=status,
                        media_type=FHIR_JSON, headers=headers)
