"""The API keeps to its OpenAPI document: dates only as ISO text, a 405 names what is allowed,
and every operation documents its error answers and the formats it can send."""

from sqlalchemy.orm import Session


def test_a_number_is_not_taken_for_a_date(api, world, db: Session) -> None:
    client = api["prescriber"]
    searched = client.get("/api/v1/patients", params={"birth_date": "0"})
    assert searched.status_code == 422
    assert searched.json()["errors"][0]["field"] == "birth_date"
    pid = world.patients["p_a1"]
    before = client.get(f"/api/v1/patients/{pid}").json()["birth_date"]
    for number in (0, 86400, "0", True):
        patched = client.patch(f"/api/v1/patients/{pid}", json={"birth_date": number})
        assert patched.status_code == 422, (number, patched.text)
        assert "YYYY-MM-DD" in patched.text
    assert client.get(f"/api/v1/patients/{pid}").json()["birth_date"] == before
    assert client.get("/api/v1/patients", params={"birth_date": "1980-05-17"}).status_code == 200


def test_a_method_not_allowed_says_which_are(api) -> None:
    response = api["prescriber"].request("TRACE", "/api/v1/patients")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert response.headers["content-type"] == "application/problem+json"


def test_every_operation_documents_its_errors_and_formats(app) -> None:
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "403", "404", "413", "422", "429"):
                assert responses[status]["content"], (method, path, status)
            if path.startswith("/fhir"):
                assert "application/fhir+json" in responses["422"]["content"], path
            elif path.startswith("/api"):
                assert "application/problem+json" in responses["422"]["content"], path
    search = document["paths"]["/fhir/{resource_type}"]["get"]["responses"]["400"]
    assert "unknown or malformed" in search["description"]
    assert "application/fhir+json" in search["content"]
    report = document["paths"]["/api/v1/inventory/reports/dispensing"]["get"]["responses"]["200"]
    assert set(report["content"]) == {"application/json", "text/csv", "application/pdf"}
    feed = document["paths"]["/calendar/{token}.ics"]["get"]["responses"]["200"]
    assert "text/calendar" in feed["content"]


def test_allow_names_the_methods_of_the_most_specific_route(api) -> None:
    export = api["prescriber"].request("OPTIONS", "/fhir/$export")
    assert export.status_code == 405 and export.headers["allow"] == "GET, HEAD"
    inventory = api["prescriber"].get("/api/v1/inventory/inventory", params={"as_of": "0.5"})
    assert inventory.status_code == 422 and "as_of" in inventory.text


def test_numbers_in_any_notation_are_not_dates_and_not_yes_or_no(api, world) -> None:
    client = api["prescriber"]
    for text in ("-1.2e-213", ".5", "1e9"):
        response = client.get("/api/v1/inventory/inventory", params={"as_of": text})
        assert response.status_code == 422, text
    link = client.post(f"/api/v1/patients/{world.patients['p_a1']}/measure-links",
                       json={"email": 0})
    assert link.status_code == 422 and link.json()["errors"][0]["field"] == "email"
