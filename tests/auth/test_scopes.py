"""SMART scopes: parsing v2 and v1 syntax, narrowing at registration, what a request needs."""

import pytest

from ketaclinic.auth import scopes


@pytest.mark.parametrize(("text", "parsed"), [
    ("patient/*.rs", ("patient", "*", "rs")),
    ("user/Observation.read", ("user", "Observation", "rs")),
    ("system/*.*", ("system", "*", "cruds")),
    ("patient/Condition.cruds", ("patient", "Condition", "cruds")),
    ("patient/*.sr", None),  # v2 letters must be in order
    ("system/patient.rs", None),
    ("openid", None),
    ("launch/patient", None),
])
def test_parse(text: str, parsed: tuple[str, str, str] | None) -> None:
    found = scopes.parse(text)
    assert (found and (found.context, found.resource_type, found.permissions)) == parsed


@pytest.mark.parametrize(("requested", "allowed", "ok"), [
    ("system/Condition.rs", "system/*.rs", True),
    ("system/Condition.r", "system/*.read", True),
    ("system/*.cruds", "system/*.rs", False),
    ("user/*.rs", "system/*.rs", False),
    ("openid", "openid", True),
    ("launch/patient", "openid", False),
])
def test_a_request_is_narrowed_to_what_was_registered(requested: str, allowed: str,
                                                      ok: bool) -> None:
    assert scopes.within(requested, allowed) is ok


@pytest.mark.parametrize(("granted", "method", "path", "ok"), [
    ({"system/*.rs"}, "GET", "/fhir/Patient/1", True),
    ({"system/*.rs"}, "GET", "/fhir/Observation", True),
    ({"system/*.rs"}, "POST", "/fhir/Patient", False),
    ({"system/*.rs"}, "GET", "/api/v1/patients/1", False),
    ({"system/*.rs"}, "GET", "/fhirish/Patient", False),
    ({"system/*.rs"}, "GET", "/fhir/$export", True),
    ({"system/*.rs"}, "GET", "/fhir/Group/A/$export", True),
    ({"system/Condition.rs"}, "GET", "/fhir/$export", False),
    ({"system/Condition.rs"}, "GET", "/fhir/$export-status/1", True),
    ({"system/Condition.rs"}, "GET", "/fhir/Condition", True),
    ({"system/Condition.r"}, "GET", "/fhir/Condition", False),
    ({"user/Patient.u"}, "PUT", "/fhir/Patient/1", True),
    ({"user/*.cruds"}, "POST", "/fhir", True),
    ({"user/*.rs"}, "POST", "/fhir", False),
    ({"openid"}, "GET", "/fhir/Patient/1", False),
])
def test_what_a_request_needs(granted: set[str], method: str, path: str, ok: bool) -> None:
    assert scopes.allows_request(frozenset(granted), method, path) is ok
