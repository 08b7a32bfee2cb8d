"""Reading a FHIR R4 Bundle: validate with fhir.resources (R4B), then pick out one patient."""

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

ACCEPTED_BUNDLE_TYPES = ("transaction", "collection", "searchset", "batch", "document")


# What each FHIR primitive accepts, for the message that refuses a value of it.
PRIMITIVE_FORMATS = {
    "Date": "YYYY, YYYY-MM or YYYY-MM-DD",
    "DateTime": "YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with its zone (Z or +hh:mm)",
    "Instant": "YYYY-MM-DDThh:mm:ss with its zone (Z or +hh:mm)",
    "Time": "hh:mm:ss",
    "Decimal": "a number",
}
_PRIMITIVE = re.compile(r"(\w+) value string does not match spec regex")


class BundleError(ValueError):
    """A file that cannot be screened: not FHIR, not a bundle, or not exactly one patient."""


@dataclass(frozen=True)
class SchemaProblem:
    """The first place a resource breaks the FHIR R4 schema: where, why and what is accepted."""

    path: str
    why: str
    accepted: str

    def text(self) -> str:
        """The problem as one line."""
        return f"{self.path}: {self.why} (accepted: {self.accepted})"


def schema_problem(exc: Exception, kind: str) -> SchemaProblem:
    """The first problem fhir.resources found in a `kind` resource, naming its element."""
    if not isinstance(exc, ValidationError) or not exc.errors():
        return SchemaProblem(kind, str(exc).strip().splitlines()[0][:200] if str(exc) else "invalid",
                             f"a valid FHIR R4 {kind}")
    first = exc.errors()[0]
    path = ".".join(str(part) for part in first["loc"]) or kind
    message = str(first["msg"]).removeprefix("Value error, ").rstrip(".")
    primitive = _PRIMITIVE.search(message)
    if primitive and primitive.group(1) in PRIMITIVE_FORMATS:
        return SchemaProblem(path, f"{first.get('input')!r} is not a FHIR {primitive.group(1)}",
                             PRIMITIVE_FORMATS[primitive.group(1)])
    return SchemaProblem(path, message[:200], f"a valid FHIR R4 {kind}")


def load_bundle(text: str | bytes, *, validate: bool = True) -> dict[str, Any]:
    """The bundle as a dict, checked against the FHIR R4 schema; BundleError says why not."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise BundleError("not a FHIR Bundle (resourceType must be 'Bundle')")
    if data.get("type") not in ACCEPTED_BUNDLE_TYPES:
        raise BundleError(f"bundle type {data.get('type')!r} is not accepted "
                          f"(accepted: {', '.join(ACCEPTED_BUNDLE_TYPES)})")
    if validate:
        validate_r4(data)
    return data


def validate_r4(data: dict[str, Any]) -> None:
    """Raise BundleError naming the first schema problem if the bundle is not valid FHIR R4."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(data)
    except (ValidationError, ValueError, TypeError) as exc:
        raise BundleError(f"not valid FHIR R4: {schema_problem(exc, 'Bundle').text()}"[:300]) from None


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources in the bundle's entries, in order."""
    found = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and "resourceType" in resource:
            found.append({**resource, "_fullUrl": entry.get("fullUrl", "")})
    return found


def the_patient(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The single Patient in the bundle; BundleError for none or several."""
    patients = [r for r in items if r["resourceType"] == "Patient"]
    if not patients:
        raise BundleError("the bundle holds no Patient")
    if len(patients) > 1:
        raise BundleError(f"the bundle holds {len(patients)} Patients; screen one at a time")
    return patients[0]
