"""A course's dose and plan, and the dose given at the chair, are typed records: nothing outside
the courses package reads them as loose dicts (by string key), and they refuse to be stored as
dicts."""

import ast
import re
from pathlib import Path

import pytest

from ketaclinic.courses.models import Course
from ketaclinic.db import TypedJSON
from ketaclinic.knowledge.dosing import Dose
from ketaclinic.treatments.models import GivenDose, TreatmentSession

SOURCE = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"
# Where the records are built: the course domain, the pure rules, and the migrations that once
# moved them out of the old JSON.
ALLOWED = ("courses/", "knowledge/", "migrations/")
# A container named for a dose or plan: course.dose, evaluation.plan, session.dose_given,
# a local `dose`, `plan`, `given` or `planned`, or `(x.plan or {})`.
NAMED_FOR_DOSE_OR_PLAN = re.compile(r"(^|[.(\s])(dose|plan|given|planned|dose_given)\b")


def _key_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """Reads by a string key: x["key"] and x.get("key")."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str):
            found.append((node.lineno, ast.unparse(node.value)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found.append((node.lineno, ast.unparse(node.func.value)))
    return found


def loose_reads(source: Path = SOURCE) -> list[str]:
    """Every read of a dose or plan by string key outside the places that build them."""
    found = []
    for path in sorted(source.rglob("*.py")):
        relative = path.relative_to(source).as_posix()
        if relative.startswith(ALLOWED):
            continue
        for line, container in _key_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if NAMED_FOR_DOSE_OR_PLAN.search(container):
                found.append(f"{relative}:{line}: {container}[...]")
    return found


def test_no_dose_or_plan_is_read_as_a_dict_outside_courses() -> None:
    assert loose_reads() == []


def test_the_check_finds_a_dict_read(tmp_path: Path) -> None:
    (tmp_path / "scheduling").mkdir()
    (tmp_path / "scheduling" / "booking.py").write_text(
        'def first(evaluation):\n    return (evaluation.plan or {}).get("sessions")[0]["date"]\n'
        'def mg(session):\n    return session.dose_given["dose_mg"]\n')
    (tmp_path / "courses").mkdir()
    (tmp_path / "courses" / "service.py").write_text('def ok(plan):\n    return plan["x"]\n')
    found = loose_reads(tmp_path)
    assert {":".join(line.split(":")[:2]) for line in found} == {
        "scheduling/booking.py:2", "scheduling/booking.py:4"}
    assert "scheduling/booking.py:4: session.dose_given[...]" in found


@pytest.mark.parametrize(("model", "field", "loose"), [
    (Course, "dose", {"dose_mg": 35.0}),
    (TreatmentSession, "dose_given", {"dose_mg": 35.0, "route": "iv"}),
])
def test_the_columns_take_only_their_record(model: type, field: str, loose: dict) -> None:
    column_type = getattr(model, field).property.columns[0].type
    assert isinstance(column_type, TypedJSON)
    with pytest.raises(TypeError, match="expected"):
        column_type.process_bind_param(loose, None)


def test_a_stored_record_reads_back_typed() -> None:
    column_type = Course.dose.property.columns[0].type
    stored = column_type.process_bind_param(
        Dose("iv", "depression", 35.0, "0.5 mg/kg x 70 kg", "source", mg_per_kg=0.5,
             weight_kg=70.0), None)
    assert stored == {"route": "iv", "indication": "depression", "dose_mg": 35.0,
                      "basis": "0.5 mg/kg x 70 kg", "source": "source", "mg_per_kg": 0.5,
                      "weight_kg": 70.0}
    assert column_type.process_result_value(stored, None) == Dose(
        "iv", "depression", 35.0, "0.5 mg/kg x 70 kg", "source", mg_per_kg=0.5, weight_kg=70.0)
    given = TreatmentSession.dose_given.property.columns[0].type
    assert given.process_result_value({"dose_mg": 56, "route": "esketamine", "lot_number": "L1",
                                       "device_times": ["2026-11-30T10:00:00+00:00"],
                                       "override_reason": None}, None) == GivenDose(
        dose_mg=56.0, route="esketamine", lot_number="L1",
        device_times=("2026-11-30T10:00:00+00:00",))
