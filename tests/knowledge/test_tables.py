"""The packaged knowledge tables: every row sourced, codes from the reference list, plausible
ranges."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.errors import InvalidInput
from ketaclinic.knowledge.codes import code_systems, known_codes, reference_codes, resolve_system
from ketaclinic.knowledge.tables import load_table
from ketaclinic.knowledge.vital_limits import plausible_ranges
from ketaclinic.patients.service import check_vitals


@pytest.mark.parametrize("table", ["codes", "code_systems", "vital_limits"])
def test_every_row_has_a_source(table: str) -> None:
    data = load_table(table)
    rows = [row for value in data.values() for row in (value if isinstance(value, list)
                                                        else [value]) if isinstance(row, dict)]
    rows = [r for r in rows if "min" in r or "code" in r or "snomed" in r or "rxnorm" in r
            or "uri" in r]
    assert rows
    assert all(r.get("source") for r in rows)


def test_every_code_we_ship_is_on_the_reference_list() -> None:
    missing = sorted(code for _, code in known_codes() if code not in reference_codes())
    assert missing == []


def test_the_reference_list_is_sourced_by_section() -> None:
    from ketaclinic.knowledge.tables import load_table

    sections = load_table("reference_codes")["section"]
    assert {s["title"] for s in sections} >= {"Conditions", "Billing (US)"}
    # A section is codes.md's, or (codes.md naming a panel but not its items) the terminology's
    # own, saying how its codes were checked.
    assert all(s["source"].startswith(("codes.md: ", "LOINC's ", "IEEE 11073-10101, as "))
               and s["codes"] for s in sections)
    assert all("check digit" in s["source"] for s in sections if s["source"].startswith("LOINC"))
    assert {"36474008", "F33.2", "G2083", "50458-028-02", "LA6571-9"} <= reference_codes()


def test_code_systems_resolve_by_short_name_or_uri() -> None:
    snomed = code_systems()["snomed"]
    assert resolve_system("condition", "snomed") == snomed
    assert resolve_system("condition", snomed.uri) == snomed
    assert resolve_system("condition", "rxnorm") is None
    assert resolve_system("medication", "http://example.org") is None


RANGES = plausible_ranges()


@given(st.sampled_from(sorted(RANGES)), st.data())
def test_values_inside_the_range_are_accepted(field: str, data: st.DataObject) -> None:
    r = RANGES[field]
    value = data.draw(st.floats(min_value=r.min, max_value=r.max))
    check_vitals({field: value})


@given(st.sampled_from(sorted(RANGES)), st.data())
def test_values_outside_the_range_are_rejected_naming_field_and_range(
    field: str, data: st.DataObject
) -> None:
    r = RANGES[field]
    value = data.draw(st.one_of(
        st.floats(max_value=r.min, exclude_max=True, allow_nan=False, allow_infinity=False,
                  min_value=-1e6),
        st.floats(min_value=r.max, exclude_min=True, allow_nan=False, allow_infinity=False,
                  max_value=1e6)))
    with pytest.raises(InvalidInput) as raised:
        check_vitals({field: value})
    problem = raised.value.problems[0]
    assert problem.field == field and problem.accepted == r.describe()


def test_issue_ranges() -> None:
    assert RANGES["weight_kg"].describe() == "20 to 350 kg"
    assert RANGES["systolic_mmhg"].describe() == "40 to 300 mmHg"


def test_every_monitor_code_read_is_on_the_reference_list() -> None:
    from ketaclinic.knowledge.monitor_codes import fields_by_code

    mdc, loinc = fields_by_code()
    assert set(mdc) | set(loinc) <= reference_codes()
