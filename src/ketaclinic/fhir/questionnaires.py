"""A posted QuestionnaireResponse for one of the clinic's instruments, read as a measure."""

import math
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


# The extension that carries a coded answer's score (R4's name, and the one before it).
_ORDINAL_VALUE = ("http://hl7.org/fhir/StructureDefinition/ordinalValue",
                  "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value")


def _value(form: instruments.Instrument, number: str, answer: dict[str, Any]) -> int:
    if isinstance(answer.get("valueInteger"), int):
        return int(answer["valueInteger"])
    if isinstance(answer.get("valueBoolean"), bool):
        return int(answer["valueBoolean"])
    decimal = answer.get("valueDecimal")
    if isinstance(decimal, int | float) and not isinstance(decimal, bool) \
            and math.isfinite(decimal) and decimal == int(decimal):
        return int(decimal)
    coding = answer.get("valueCoding") or {}
    found = _coded_value(form, coding if isinstance(coding, dict) else {})
    if found is None:
        raise invalid(f"item[{number}].answer", f"{coding.get('code')!r} is not an answer code of "
                      f"{form.name}", "valueInteger, or valueCoding with the instrument's LOINC "
                      "answer code, its score (ordinalValue) or its answer text")
    return found


def _coded_value(form: instruments.Instrument, coding: dict[str, Any]) -> int | None:
    """A coded answer's score: by the instrument's LOINC answer code; else by the score the
    coding carries (its ordinalValue extension) or its display (the answer's words, 'Several
    days'), when the instrument has that answer."""
    values = {a.value for a in form.answers}
    by_code = next((a.value for a in form.answers if a.code and a.code == coding.get("code")), None)
    if by_code is not None:
        return by_code
    for extension in coding.get("extension") or []:
        if not isinstance(extension, dict) or extension.get("url") not in _ORDINAL_VALUE:
            continue
        score = extension.get("valueDecimal")
        if isinstance(score, int | float) and not isinstance(score, bool) and score in values:
            return int(score)
    words = str(coding.get("display") or "").strip().casefold()
    return next((a.value for a in form.answers if words and a.text.casefold() == words), None)


def _answered_items(items: list[Any]) -> list[tuple[str, list[Any]]]:
    """Each question's linkId (its last path segment: LOINC's forms write '/44250-9') and its
    answers, groups opened: a form may nest its questions in a group, which holds no answer."""
    found: list[tuple[str, list[Any]]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = str(item.get("linkId", "")).rstrip("/").rsplit("/", 1)[-1]
        if item.get("item") and not item.get("answer"):
            found += _answered_items(item["item"])
        else:
            found.append((link, item.get("answer") or []))
    return found


def _item_number(form: instruments.Instrument, link: str) -> int | None:
    """The number of the form's question a linkId names: the number itself, the item's code (the
    LOINC code a form built from LOINC's panel uses), or 'total' for a form scored by its total
    alone; None for anything else."""
    if link.isdigit():
        return int(link)
    if not form.items:
        return 1 if link in ("total", form.total_code.code) else None
    return next((item.number for item in form.items if item.code.code == link), None)


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
    count = len(form.items) or 1
    for link, answers in _answered_items(body.get("item") or []):
        number = _item_number(form, link)
        if number is None and link in ("total", form.total_code.code, *form.unscored_codes):
            continue  # the form's own total (the clinic scores the items itself), or a question
            # the score leaves out
        if number is None or not answers:
            raise invalid(f"item[{link}]", "not an item of the form, or no answer",
                          f"linkId 1 to {count}, or the item's LOINC code, with one answer")
        given[number] = _value(form, link, answers[0])
    moment = (parse_datetime(body.get("authored"), zone_of(patient_id))
              if body.get("authored") else None)
    try:
        data = MeasureIn(instrument=form.key, answers=[given.get(n) for n in range(1, count + 1)],
                         taken_at=moment)
    except ValidationError as exc:
        raise invalid("item", str(exc).splitlines()[0][:200], "the form's answers") from None
    return patient_id, data
