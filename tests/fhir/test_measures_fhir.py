"""Measures map to valid FHIR R4 Observations and QuestionnaireResponses with their codes."""

import uuid
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from ketaclinic.fhir.measures import observation, questionnaire_response
from ketaclinic.knowledge.instruments import score
from ketaclinic.measures.models import Measure

PATIENT = str(uuid.uuid4())


def measure_of(key: str, answers: list[int | None]) -> tuple[Measure, list[int | None]]:
    scored = score(key, answers)
    row = Measure(id=uuid.uuid4(), instrument=key, total=scored.total, band=scored.band,
                  risk_level=scored.risk_level, taken_at=datetime(2026, 11, 20, 14, tzinfo=UTC),
                  status="final")
    return row, list(scored.answers)


def test_phq9_total_is_loinc_44261_6_and_items_carry_loinc_answers() -> None:
    row, answers = measure_of("phq9", [1, 1, 1, 1, 1, 1, 1, 1, 2])
    obs = Observation.model_validate(observation(row, PATIENT))
    assert obs.code.coding[0].code == "44261-6" and obs.valueInteger == 10
    assert obs.interpretation[0].text == "moderate"
    qr = QuestionnaireResponse.model_validate(questionnaire_response(row, answers, PATIENT))
    ninth = qr.item[8]
    assert ninth.definition == "http://loinc.org#44260-8"
    assert ninth.answer[0].valueCoding.code == "LA6570-1"


@pytest.mark.parametrize(("key", "answers"), [("gad7", [0] * 7), ("pcl5", [2] * 20),
                                              ("qids16", [1] * 16), ("madrs", [2] * 10),
                                              ("pain", [6]), ("cssrs", [1, 0, None, None, None, 0, None]),
                                              ("moass", [4]), ("cadss", [7])])
def test_every_instrument_maps_to_valid_r4(key: str, answers: list[int | None]) -> None:
    row, kept = measure_of(key, answers)
    Observation.model_validate(observation(row, PATIENT))
    response = QuestionnaireResponse.model_validate(questionnaire_response(row, kept, PATIENT))
    assert response.item, key


def test_cssrs_is_a_risk_level_and_skipped_items_are_left_out() -> None:
    row, kept = measure_of("cssrs", [1, 0, None, None, None, 0, None])
    assert observation(row, PATIENT)["valueCodeableConcept"] == {"text": "low"}
    assert [i["linkId"] for i in questionnaire_response(row, kept, PATIENT)["item"]] == ["1", "2", "6"]
