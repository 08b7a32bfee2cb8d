"""The public self-check and the clinic's screening agree: for each clinic vignette that the
self-check can ask about, the same answers reach the same decision."""

import pytest

from ketaclinic.fhir.record import record_from_bundle
from ketaclinic.knowledge.screening import screen
from ketaclinic.knowledge.self_check import Answers, check, table
from tests.fhir_builders import ON, bundle
from tests.knowledge.test_reading_the_record import CASES
from tests.knowledge.test_screening_vignettes import VIGNETTES

BASE = {"age": 46, "systolic_mmhg": 122, "diastolic_mmhg": 78, "weight_kg": 72}

# Vignette name -> the answers a visitor with that story gives.
EQUIVALENT = {
    "healthy adult, IV": Answers(route="iv", **BASE),
    "healthy adult, esketamine": Answers(route="esketamine", **BASE),
    "cerebral aneurysm by ICD-10-CM": Answers(conditions=frozenset({"aneurysm"}), **BASE),
    "abdominal aortic aneurysm by SNOMED": Answers(route="esketamine",
                                                   conditions=frozenset({"aneurysm"}), **BASE),
    "intracerebral haemorrhage resolved years ago still counts": Answers(
        route="esketamine", conditions=frozenset({"brain-bleed"}), **BASE),
    "ketamine hypersensitivity": Answers(ketamine_allergy=True, **BASE),
    "BP 185/95 with racemic ketamine": Answers(age=46, systolic_mmhg=185, diastolic_mmhg=95,
                                               weight_kg=70),
    "BP 185/95 with esketamine is a caution, not a block": Answers(
        age=46, route="esketamine", systolic_mmhg=185, diastolic_mmhg=95),
    "BP 150/85 at screening": Answers(age=46, systolic_mmhg=150, diastolic_mmhg=85, weight_kg=70),
    "aged 17": Answers(age=17, route="esketamine", systolic_mmhg=122, diastolic_mmhg=78,
                       weight_kg=72),
    "aged 70": Answers(age=70, route="esketamine", systolic_mmhg=122, diastolic_mmhg=78,
                       weight_kg=72),
    "coronary artery disease": Answers(conditions=frozenset({"heart"}), **BASE),
    "cerebral infarction": Answers(conditions=frozenset({"stroke"}), **BASE),
    "hypertension on record": Answers(route="esketamine", conditions=frozenset({"hypertension"}),
                                      **BASE),
    "psychosis": Answers(conditions=frozenset({"psychosis-now"}), **BASE),
    "past psychotic episode": Answers(route="oral", conditions=frozenset({"psychosis"}), **BASE),
    "midazolam by name only": Answers(other_medicines=(("Midazolam 7.5 mg tablet", None),),
                                      **BASE),
    "gabapentin": Answers(other_medicines=(("gabapentin", None),), **BASE),
    "bipolar disorder": Answers(conditions=frozenset({"bipolar"}), **BASE),
    "alcohol dependence": Answers(conditions=frozenset({"substance"}), **BASE),
    "active pregnancy": Answers(route="esketamine", conditions=frozenset({"pregnant"}), **BASE),
    "breastfeeding": Answers(conditions=frozenset({"breastfeeding"}), **BASE),
    "cirrhosis": Answers(route="oral", conditions=frozenset({"liver"}), **BASE),
    "glaucoma": Answers(conditions=frozenset({"eye-brain-pressure"}), **BASE),
    "clonazepam 1 mg twice a day before IV ketamine": Answers(medicines=(("clonazepam", 2.0),),
                                                             **BASE),
    "diazepam 5 mg a day is under the threshold": Answers(medicines=(("diazepam", 5.0),), **BASE),
    "lorazepam with no dose recorded": Answers(medicines=(("lorazepam", None),), **BASE),
    "cerebral arteriovenous malformation": Answers(route="im", conditions=frozenset({"avm"}),
                                                   **BASE),
}
BY_NAME = {v.name: v for v in [*VIGNETTES, *CASES]}


@pytest.mark.parametrize("name", sorted(EQUIVALENT))
def test_the_self_check_reaches_the_clinic_decision(name: str) -> None:
    vignette = BY_NAME[name]
    clinic = screen(record_from_bundle(bundle(*vignette.resources)), route=vignette.route, on=ON)
    answers = EQUIVALENT[name]
    assert answers.route == vignette.route
    public = check(answers, ON)
    assert clinic.decision == vignette.decision
    assert public.outcome == clinic.decision, (public.outcome, [f.rule for f in clinic.findings])
    if public.outcome != "eligible":
        assert public.reasons and all(source for _, source in public.reasons)


def test_every_self_check_question_and_outcome_has_words() -> None:
    assert {row["key"] for row in table()["condition"]} >= {"aneurysm", "pregnant", "psychosis"}
    assert set(table()["outcomes"]) == {"eligible", "needs-review", "not-eligible"}
    assert table()["disclaimer"]


def test_there_are_at_least_twenty_five_agreeing_stories() -> None:
    assert len(EQUIVALENT) >= 25


def test_every_reason_is_listed_not_only_the_blocking_one() -> None:
    answers = Answers(conditions=frozenset({"aneurysm", "hypertension"}),
                      other_medicines=(("fentanyl patch", None),), **BASE)
    result = check(answers, ON)
    assert result.outcome == "not-eligible"
    texts = " ".join(text for text, _ in result.reasons)
    assert "aneurysm" in texts and "High blood pressure" in texts and "Opioid" in texts


def test_any_medicine_is_accepted_and_one_off_the_list_is_noted() -> None:
    result = check(Answers(other_medicines=(("Sertraline", 100.0),), **BASE), ON)
    assert result.outcome == "eligible"
    assert any("Sertraline: it is not on our list" in note for note in result.notes)


def test_a_very_high_blood_pressure_gets_advice_to_seek_care_today() -> None:
    result = check(Answers(age=46, route="esketamine", systolic_mmhg=186, diastolic_mmhg=114), ON)
    assert result.urgent.startswith("A blood pressure of 186/114 is very high")
    assert "call 911" in result.urgent
    assert check(Answers(**BASE), ON).urgent == ""


def test_risk_answers_bring_the_crisis_contacts() -> None:
    assert check(Answers(suicidal_thoughts=True, **BASE), ON).crisis
    assert not check(Answers(**BASE), ON).crisis


def test_the_check_s_answers_are_typed_choices_from_the_table() -> None:
    from ketaclinic.knowledge import self_check as table_rules

    for group in table_rules.CHOICE_GROUPS:
        keys = [c.key for c in table_rules.choices(group)]
        assert keys and len(keys) == len(set(keys)), group
        assert all(c.label for c in table_rules.choices(group))
    assert table_rules.label_of("concern", "ptsd") == "PTSD"
    assert table_rules.label_of("concern", "nothing-like-it") == ""
    assert "clinician" in table_rules.disclaimer()


def test_a_very_high_diastolic_alone_is_quoted_without_a_systolic_of_0() -> None:
    result = check(Answers(age=46, route="esketamine", diastolic_mmhg=116), ON)
    assert result.urgent.startswith("A blood pressure of \u2013/116 is very high")
