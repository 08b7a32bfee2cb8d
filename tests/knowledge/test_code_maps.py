"""Code maps handed out by knowledge: SNOMED to ICD-10-CM for diagnoses, SNOMED routes for CDS
Hooks, a monitor's MDC and LOINC codes and units, and every consent text kept."""

import pytest

from ketaclinic.knowledge import codes, consent, monitor_codes


def test_code_maps_are_typed_and_complete() -> None:
    icd = codes.icd10_for_snomed()
    assert icd and all(isinstance(v, tuple) for v in icd.values())
    assert codes.route_for_snomed()["47625008"] == "iv"
    mdc, loinc = monitor_codes.fields_by_code()
    assert set(mdc.values()) >= {"systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct"}
    assert set(loinc.values()) <= set(mdc.values())
    assert all(unit.factor > 0 for unit in monitor_codes.accepted_units("systolic_mmhg").values())
    assert monitor_codes.accepted_units("temperature_c")["MDC_DIM_FAHR"].apply(98.6) == \
        pytest.approx(37.0)


def test_the_current_consent_text_and_the_old_ones_are_readable() -> None:
    texts = consent.versions()
    assert consent.current_version() in texts and len(texts) >= 2
    assert all(t.text and t.title and t.text == t.text.strip() for t in texts.values())
