"""A clinical drug's strength read from its RxNorm name, so that a dose counted in tablets is a
dose in milligrams."""

import pytest

from ketaclinic.knowledge.record import dose_in_mg
from ketaclinic.knowledge.strength import concentration_mg_per_ml, strength_mg


@pytest.mark.parametrize(("product", "strength"), [
    ("Lorazepam 0.5 MG Oral Tablet", 0.5),
    ("clonazepam 0.25 MG Disintegrating Oral Tablet", 0.25),
    ("12 HR Alprazolam 1 MG Extended Release Oral Tablet", 1.0),
    ("Diazepam 5 MG Oral Tablet [Valium]", 5.0),
    ("Temazepam 15 MG Oral Capsule", 15.0),
    ("Clonidine 100 MCG Oral Tablet", 0.1),
    ("Ativan 1mg tab", 1.0), ("lorazepam 0.5mg tabs", 0.5),  # as a chart entry is typed
    # what gives no single strength of one tablet
    ("Lorazepam 2 MG/ML Oral Solution", None),
    ("Lorazepam 2 MG/ML Injectable Solution", None),
    ("72 HR Fentanyl 0.025 MG/HR Transdermal System", None),
    ("Chlordiazepoxide 5 MG / Amitriptyline 12.5 MG Oral Tablet", None),
    ("lorazepam", None), ("Lorazepam Oral Tablet", None), ("", None),
])
def test_a_product_s_strength_is_read_from_its_name(product: str, strength: float | None) -> None:
    assert strength_mg(product) == strength


@pytest.mark.parametrize(("value", "unit", "product", "milligrams"), [
    (2, "tablets", "Lorazepam 0.5 MG Oral Tablet", 1.0),
    (1, "{tablet}", "Lorazepam 0.5 MG Oral Tablet", 0.5),
    (1, "TAB", "Lorazepam 0.5 MG Oral Tablet", 0.5),
    (1, "capsule", "Temazepam 15 MG Oral Capsule", 15.0),
    (2, "mg", "Lorazepam 0.5 MG Oral Tablet", 2.0),  # a mass is a mass, whatever the product
    (1, "", "Lorazepam 0.5 MG Oral Tablet", None),  # no unit: tablets or milligrams?
    (1, "tablet", "lorazepam", None),
    (5, "mL", "Diazepam 1 MG/ML Oral Solution", 5.0),
    (0.5, "ml", "Lorazepam 2 MG/ML Oral Concentrate", 1.0),
    (1, "mL", "Lorazepam 2 MG/ML Injectable Solution", None),  # not taken at home by mouth
    (1, "tablet", "Diazepam 1 MG/ML Oral Solution", None),
    (5, "mL", "Diazepam 5 MG Oral Tablet", None),
])
def test_a_dose_counted_in_tablets_is_milligrams_of_the_product(
        value: float, unit: str, product: str, milligrams: float | None) -> None:
    assert dose_in_mg(value, unit, product) == (milligrams, False)


@pytest.mark.parametrize(("product", "concentration"), [
    ("Diazepam 1 MG/ML Oral Solution", 1.0), ("Lorazepam 2 MG/ML Oral Concentrate", 2.0),
    ("Clonazepam 100 MCG/ML Oral Suspension", 0.1),
    ("Lorazepam 2 MG/ML Injectable Solution", None), ("Diazepam 5 MG Oral Tablet", None),
    ("Chlordiazepoxide 1 MG/ML / Amitriptyline 2.5 MG/ML Oral Solution", None),
])
def test_an_oral_liquid_s_concentration_is_read_from_its_name(
        product: str, concentration: float | None) -> None:
    assert concentration_mg_per_ml(product) == concentration
