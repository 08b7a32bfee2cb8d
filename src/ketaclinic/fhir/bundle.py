"""Reading a FHIR R4 Bundle: validate with fhir.resources (R4B), then pick out one patient."""

import json
from typing import Any

from pydantic import ValidationError

ACCEPTED_BUNDLE_TYPES = ("transaction", "collection", "searchset", "batch", "document")


class BundleError(ValueError):
    """A file that cannot be screened: not FHIR, not a bundle, or not exactly one patient."""


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
        first = str(exc).strip().splitlines()
        where = first[1].strip() if len(first) > 1 else ""
        raise BundleError(f"not valid FHIR R4: {where or first[0]}"[:300]) from None


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
