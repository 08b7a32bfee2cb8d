"""Hostile input contained at the edge: bodies over the limit, JSON nested too deep, and CSV
cells that would run as spreadsheet formulas."""

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.settings import get_settings
from ketaclinic.spreadsheet import csv_text, safe_cell
from ketaclinic.web.limits import TooDeep, json_depth


def deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def test_json_nested_too_deep_is_refused_before_parsing(api, anon) -> None:
    fhir = api["nurse_a"].post("/fhir", content=deep(1000),
                               headers={"content-type": "application/fhir+json"})
    assert fhir.status_code == 400 and fhir.json()["resourceType"] == "OperationOutcome"
    assert "nested more than 64 levels" in fhir.text
    read = api["nurse_a"].post("/fhir/Observation", content=b"[" * 5000 + b"]" * 5000,
                               headers={"content-type": "application/fhir+json"})
    assert read.status_code == 400
    cds = api["prescriber"].post("/cds-services/ketamine-screening", content=deep(5000),
                                 headers={"content-type": "application/json"})
    assert cds.status_code == 400 and cds.json()["status"] == 400
    assert anon.post("/api/v1/auth/token", content=deep(100),
                     headers={"content-type": "application/json"}).status_code == 400


def test_a_body_over_the_limit_is_refused_unread_even_before_login(anon) -> None:
    limit = get_settings().body_limit_bytes
    big = anon.post("/api/v1/patients", content=b"x" * (limit + 1),
                    headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.json()["title"] == "Request body too large"
    assert f"{limit:,} bytes" in big.json()["detail"]
    page = anon.post("/login", content=b"a=" + b"x" * (limit + 1),
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert page.status_code == 413


def test_the_depth_scanner_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\\\\\"]"}]}', 64) == 3
    with pytest.raises(TooDeep):
        json_depth(deep(65), 64)


def _documents(alphabet: str) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(alphabet=alphabet),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.text(alphabet=alphabet), inner, max_size=3),
        max_leaves=20)


# Strings with quotes, backslashes and newlines are written with escapes (the scanner's regular
# expression path); strings of brackets and letters alone are not (its split on quotes).
_JSON = _documents('[]{}"\\ab\n')
_UNESCAPED_JSON = _documents("[]{}ab ")


def _nesting(value: Any) -> int:
    children = value.values() if isinstance(value, dict) else value \
        if isinstance(value, list) else None
    return 0 if children is None else 1 + max((_nesting(c) for c in children), default=0)


@given(_JSON)
def test_the_depth_scanner_agrees_with_the_parsed_document(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth(text, 64) == _nesting(json.loads(text))


@given(_UNESCAPED_JSON)
def test_the_depth_scanner_agrees_with_a_document_without_escapes(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    assert b"\\" not in text
    assert json_depth(text, 64) == _nesting(json.loads(text))


@pytest.mark.parametrize(("value", "cell"), [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("+SUM(A1)", "'+SUM(A1)"),
    ("-2+3", "'-2+3"), ("@foo", "'@foo"), ("\tx", "'\tx"), ("-12.5", "-12.5"), ("+7", "+7"),
    ("Garcia", "Garcia"), (None, ""), (35, "35")])
def test_csv_cells_cannot_start_a_formula(value: object, cell: str) -> None:
    assert safe_cell(value) == cell
    assert csv_text(["name"], [[value]]).splitlines()[1].strip('"') == cell.replace('"', '""') \
        or value is None


def test_every_csv_writer_goes_through_the_safe_cell() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"
    for path in source.rglob("*.py"):
        if path.name == "spreadsheet.py":
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and node.attr == "writer" and \
                    isinstance(node.value, ast.Name) and node.value.id == "csv":
                assert "safe_cell" in text, f"{path}: CSV written without safe_cell"
