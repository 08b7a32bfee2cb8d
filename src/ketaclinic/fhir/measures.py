"""Measures as FHIR R4: an Observation for the total (or risk level) and a QuestionnaireResponse
with every item answer, coded from the instrument table (LOINC where codes.md lists it)."""

from typing import Any

from ketaclinic.knowledge import instruments
from ketaclinic.measures.models import Measure

SURVEY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "survey", "display": "Survey"}]}
QUESTIONNAIRE_BASE = "https://ketaclinic.org/Questionnaire/"


def _coding(coding: instruments.Coding) -> dict[str, str]:
    return {"system": coding.system, "code": coding.code, "display": coding.display}


# The columns an Observation of a measure shows: a search reads them alone, not the records.
OBSERVATION_COLUMNS = (Measure.id, Measure.instrument, Measure.status, Measure.taken_at,
                       Measure.total, Measure.risk_level, Measure.band)


def observation(measure: Any, patient_id: str) -> dict[str, Any]:
    """The measure's total (C-SSRS: its risk level) as an Observation, from the record or a row
    of its `OBSERVATION_COLUMNS`."""
    form = instruments.instrument(measure.instrument)
    measure_id = str(measure.id)
    resource: dict[str, Any] = {
        "resourceType": "Observation", "id": measure_id,
        "status": "entered-in-error" if measure.status == "entered-in-error" else "final",
        "category": [SURVEY], "code": {"coding": [_coding(form.total_code)], "text": form.name},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": measure.taken_at.isoformat(),
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{measure_id}"}],
    }
    if measure.total is None:
        resource["valueCodeableConcept"] = {"text": measure.risk_level or "none"}
    else:
        resource["valueInteger"] = measure.total
    if measure.band:
        resource["interpretation"] = [{"text": measure.band}]
    return resource


def questionnaire_response(measure: Measure, answers: list[int | None],
                           patient_id: str) -> dict[str, Any]:
    """Every answered item, with its code; items not asked are left out."""
    form = instruments.instrument(measure.instrument)
    by_value = {a.value: a for a in form.answers}
    items = []
    for item, value in zip(form.items, answers, strict=False):
        if value is None:
            continue
        answer = by_value.get(value)
        if answer is not None and answer.code:
            given: dict[str, Any] = {"valueCoding": {"system": "http://loinc.org",
                                                     "code": answer.code, "display": answer.text}}
        else:
            given = {"valueInteger": value}
        entry: dict[str, Any] = {"linkId": str(item.number), "answer": [given],
                                 "definition": f"{item.code.system}#{item.code.code}"}
        if item.text:
            entry["text"] = item.text
        items.append(entry)
    if not form.items and answers and answers[0] is not None:
        items.append({"linkId": "total", "text": f"{form.name} total",
                      "answer": [{"valueInteger": answers[0]}]})
    return {
        "resourceType": "QuestionnaireResponse", "id": str(measure.id),
        "questionnaire": QUESTIONNAIRE_BASE + form.key,
        "status": "entered-in-error" if measure.status == "entered-in-error" else "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": measure.taken_at.isoformat(), "item": items,
    }


def questionnaire(form: instruments.Instrument) -> dict[str, Any]:
    """An instrument whose licence allows its wording, as a Questionnaire."""
    items = []
    for item in form.items:
        options = [{"valueCoding": {"system": "http://loinc.org", "code": a.code, "display": a.text}}
                   if a.code else {"valueInteger": a.value} for a in form.answers]
        entry: dict[str, Any] = {"linkId": str(item.number), "text": item.text, "type": "choice",
                                 "required": item.asked_if is None, "code": [_coding(item.code)],
                                 "answerOption": options}
        if item.asked_if is not None:
            entry["enableWhen"] = [{"question": str(item.asked_if), "operator": "=",
                                    "answerInteger": 1}]
        items.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire", "id": form.key, "url": QUESTIONNAIRE_BASE + form.key,
        "name": form.key.upper(), "title": form.title, "status": "active",
        "subjectType": ["Patient"], "copyright": form.licence, "description": form.stem or form.title,
        "item": items,
    }
    if form.panel_code:
        resource["code"] = [_coding(form.panel_code)]
    return resource


def questionnaires() -> list[dict[str, Any]]:
    """Every instrument the licence lets the clinic publish, as Questionnaires."""
    return [questionnaire(f) for f in instruments.instruments().values() if f.wording and f.items]
