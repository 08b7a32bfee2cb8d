"""A CDS Hooks 2.0 service that screens for ketamine from prefetched FHIR data alone."""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ketaclinic.fhir.bundle import BundleError
from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.codes import code_systems, route_for_snomed
from ketaclinic.knowledge.screening import (
    ROUTES,
    CannotScreen,
    Finding,
    ScreeningResult,
    screen,
)
from ketaclinic.knowledge.status_observations import status_observations

SERVICE_ID = "ketamine-screening"
PATIENT_VIEW_ID = "ketamine-screening-patient-view"
INDICATOR = {"contraindication": "critical", "caution": "warning", "info": "info"}
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}&status=active",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    # The panel, and a systolic or diastolic sent as an Observation of its own (screening pairs
    # those taken at one time).
    "bloodPressures": "Observation?patient={{context.patientId}}&code=http://loinc.org|85354-9,"
                      "http://loinc.org|8480-6,http://loinc.org|8462-4&_sort=-date&_count=10",
    "weights": "Observation?patient={{context.patientId}}&code=http://loinc.org|29463-7"
               "&_sort=-date&_count=5",
    # Pregnancy and breastfeeding recorded as Observations (a pregnancy status, an hCG test):
    # screening counts a current one like the Condition.
    "statusObservations": "Observation?patient={{context.patientId}}&code=" + ",".join(
        f"http://loinc.org|{code}"
        for code in sorted(set().union(*(kind.loinc for kind in status_observations()))))
    + "&_sort=-date&_count=20",
}
SUMMARY_MAX = 140


class CdsError(ValueError):
    """A request the service cannot answer; `status` is the HTTP status the spec prescribes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CdsRequest(BaseModel):
    """The parts of a CDS Hooks 2.0 request this service reads."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)  # the specification's camelCase name
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


def discovery() -> dict[str, Any]:
    """The discovery document listing this service for order-select and patient-view."""
    description = ("Screens the patient's record for contraindications, cautions and "
                   "interactions with ketamine or esketamine, each with its source.")
    return {"services": [
        {"hook": "order-select", "id": SERVICE_ID, "title": "Ketamine screening",
         "description": description + " Fires when ketamine or esketamine is selected.",
         "prefetch": PREFETCH,
         "usageRequirements": "Send the prefetch; the service does not call back to the FHIR server."},
        {"hook": "patient-view", "id": PATIENT_VIEW_ID, "title": "Ketamine screening",
         "description": description + " Screens every route when a chart is opened.",
         "prefetch": PREFETCH,
         "usageRequirements": "Send the prefetch; the service does not call back to the FHIR server."},
    ]}


def _resources(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for value in prefetch.values():
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            found.extend(e["resource"] for e in value.get("entry") or []
                         if isinstance(e, dict) and isinstance(e.get("resource"), dict))
        elif "resourceType" in value:
            found.append(value)
    return found


def _route_of(order: dict[str, Any]) -> str | None:
    """The route a draft MedicationRequest orders ketamine by, or None if it is not ketamine."""
    if order.get("resourceType") != "MedicationRequest":
        return None
    concept = order.get("medicationCodeableConcept") or {}
    codes = {str(c.get("code")) for c in concept.get("coding") or [] if isinstance(c, dict)}
    words = " ".join([str(concept.get("text", ""))] + [str(c.get("display", ""))
                                                       for c in concept.get("coding") or []
                                                       if isinstance(c, dict)]).casefold()
    esketamine_codes = {"2201623", "2201625"}
    if codes & esketamine_codes or "esketamine" in words or "spravato" in words:
        return "esketamine"
    if "6130" not in codes and "ketamine" not in words:
        return None
    routes = route_for_snomed()
    for instruction in order.get("dosageInstruction") or []:
        for coding in ((instruction or {}).get("route") or {}).get("coding") or []:
            if coding.get("system") == code_systems()["snomed"].uri and coding.get("code") in routes:
                return str(routes[coding["code"]])
    return "iv"


def _ordered_routes(context: dict[str, Any]) -> list[str]:
    draft = context.get("draftOrders") or {}
    orders = [e.get("resource") for e in draft.get("entry") or [] if isinstance(e, dict)]
    selections = set(context.get("selections") or [])
    chosen = [o for o in orders if isinstance(o, dict) and (
        not selections or f"MedicationRequest/{o.get('id')}" in selections)]
    return list(dict.fromkeys(r for o in chosen if (r := _route_of(o))))


@dataclass(frozen=True)
class _RoutedFinding:
    finding: Finding
    routes: tuple[str, ...]


def evaluate(request: CdsRequest, *, on: date, time_zone: str = "UTC"
             ) -> tuple[dict[str, Any], list[ScreeningResult]]:
    """The cards for a request, and the screening results behind them, as of the day `on` in the
    time zone of the clinic that asks."""
    if request.hook == "order-select":
        routes = _ordered_routes(request.context)
        if not routes:
            return {"cards": []}, []  # nothing ketamine was selected: nothing to say
    elif request.hook == "patient-view":
        routes = list(ROUTES)
    else:
        raise CdsError(400, f"hook {request.hook!r} is not served (accepted: order-select, patient-view)")
    resources = _resources(request.prefetch or {})
    if not any(r.get("resourceType") == "Patient" for r in resources):
        raise CdsError(412, "prefetch.patient is missing; this service works from prefetch only")
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": r} for r in resources]}
    try:
        record = record_from_bundle(bundle, time_zone)
        results = [screen(record, route=route, on=on, time_zone=time_zone) for route in routes]
    except BundleError as exc:
        raise CdsError(400, str(exc)) from None
    except CannotScreen as exc:
        return {"cards": [_card("info", "Patient is deceased: not screened for ketamine",
                                str(exc), "ketaclinic")]}, []
    return {"cards": _cards(results)}, results


def _cards(results: list[ScreeningResult]) -> list[dict[str, Any]]:
    routed: dict[tuple[str, str], _RoutedFinding] = {}
    for result in results:
        for finding in result.findings:
            key = (finding.rule, finding.message)
            earlier = routed.get(key)
            routes = (earlier.routes if earlier else ()) + (result.route,)
            routed[key] = _RoutedFinding(finding, routes)
    all_routes = len(results) > 1
    cards = []
    for item in routed.values():
        f = item.finding
        scope = "" if not all_routes or len(item.routes) == len(results) else (
            f" ({', '.join(item.routes)})")
        detail = f"{f.message}\n\nEvidence:\n" + "\n".join(f"- {e}" for e in f.evidence)
        cards.append(_card(INDICATOR[f.severity], f"{f.severity.capitalize()}{scope}: {f.message}",
                           detail + f"\n\nRule `{f.rule}`, rule set {results[0].ruleset_version}.",
                           f.source))
    if not cards:
        screened = ", ".join(r.route for r in results)
        cards.append(_card("info", f"No contraindication or caution found for {screened}",
                           f"Screened on {results[0].on} with rule set "
                           f"{results[0].ruleset_version}.", "ketaclinic screening rules"))
    return cards


def _card(indicator: str, summary: str, detail: str, source: str) -> dict[str, Any]:
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
    return {"uuid": str(uuid.uuid4()), "summary": summary, "detail": detail,
            "indicator": indicator, "source": {"label": source}}
