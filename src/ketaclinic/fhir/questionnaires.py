"""A posted QuestionnaireResponse for one of the clinic's instruments, read as a measure."""

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from ketaclinic.errors import invalid
from ketaclinic.fhir.bundle import schema_problem
from ketaclinic.fhir.measures import QUESTIONNAIRE_BASE
from ketaclinic.fhir.record import parse_datetime
from ketaclinic.fhir.search import reference_id
from ketaclinic.knowledge import instruments
from ketaclinic.measures.schemas import MeasureIn


def _instrument(canonical: str) -> instruments.Instrument:
    known = instruments.instruments()
    by_panel = {f"http://loinc.org/q/{f.panel_code.code}": f for f in known.values() if f.panel_code}
    if canonical.startswith(QUESTIONNAIRE_BASE) and canonical[len(QUESTIONNAIRE_BASE):] in known:
        return known[canonical[len(QUESTIONNAIRE_BASE):]]
    if canonical.split("|")[0] in by_panel:
        return by_panel[canonical.split("|")[0]]
    raise invalid("questionnaire", f"{canonical!r} is not one of the clinic's instruments",
                  ", ".join(QUESTIONNAIRE_BASE + k for k in known))


def _value(form: instruments.Instrument, number: str, answer: dict[str, Any]) -> int:
    if isinstance(answer.get("valueInteger"), int):
        return int(answer["valueInteger"])
    if isinstance(answer.get("valueBoolean"), bool):
        return int(answer["valueBoolean"])
    code = (answer.get("valueCoding") or {}).get("code")
    found = next((a.value for a in form.answers if a.code and a.code == code), None)
    if found is None:
        raise invalid(f"item[{number}].answer", f"{code!r} is not an answer code of {form.name}",
                      "valueInteger, or valueCoding with the instrument's LOINC answer code")
    return found


def measure_from_response(body: dict[str, Any], zone_of: Callable[[str], str]
                          ) -> tuple[str, MeasureIn]:
    """(patient id, the measure) from a QuestionnaireResponse; refuses what it cannot read. An
    `authored` without a time or zone is read on the clinic's clock: `zone_of(patient id)`,
    the patient's site's zone."""
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    if not isinstance(body, dict) or body.get("resourceType") != "QuestionnaireResponse":
        raise invalid("resourceType", "not a QuestionnaireResponse", "QuestionnaireResponse")
    try:
        QuestionnaireResponse.model_validate(body)
    except (ValidationError, ValueError) as exc:
        problem = schema_problem(exc, "QuestionnaireResponse")
        raise invalid(problem.path, problem.why, problem.accepted) from None
    if body.get("status") != "completed":
        raise invalid("status", f"{body.get('status')!r}: only completed forms are scored",
                      "completed")
    form = _instrument(str(body.get("questionnaire") or ""))
    patient_id = reference_id("subject", str((body.get("subject") or {}).get("reference", "")))
    given: dict[int, int] = {}
    for item in body.get("item") or []:
        link = str(item.get("linkId", ""))
        answers = item.get("answer") or []
        if link == "total":
            link = "1"
        if not link.isdigit() or not answers:
            raise invalid(f"item[{link}]", "not an item of the form, or no answer",
                          f"linkId 1 to {len(form.items) or 1} with one answer")
        given[int(link)] = _value(form, link, answers[0])
    count = len(form.items) or 1
    moment = (parse_datetime(body.get("authored"), zone_of(patient_id))
              if body.get("authored") else None)
    try:
        data = MeasureIn(instrument=form.key, answers=[given.get(n) for n in range(1, count + 1)],
                         taken_at=moment)
    except ValidationError as exc:
        raise invalid("item", str(exc).splitlines()[0][:200], "the form's answers") from None
    return patient_id, data
