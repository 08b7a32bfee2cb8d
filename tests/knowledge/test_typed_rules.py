"""Knowledge hands out typed rules: nothing outside it reads a rule table as a dict."""

import ast
from datetime import timedelta
from pathlib import Path

from ketaclinic.knowledge import outcomes, rems
from ketaclinic.knowledge.alert_rules import alert_rules
from ketaclinic.knowledge.ruleset import default_ruleset
from ketaclinic.knowledge.tables import load_table

SRC = Path(__file__).resolve().parents[2] / "src" / "ketaclinic"
# The functions that hand out a whole table as a dict; only the knowledge package calls them.
RAW_TABLE_ACCESSORS = {"table", "rems_table", "load_table"}


def raw_table_reads(root: Path) -> list[str]:
    """Places outside knowledge/ that import a knowledge module's whole-table accessor."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if "knowledge" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "ketaclinic.knowledge"):
                found += [f"{path.relative_to(root)}:{node.lineno} {alias.name}"
                          for alias in node.names if alias.name in RAW_TABLE_ACCESSORS]
            if (isinstance(node, ast.Attribute) and node.attr in RAW_TABLE_ACCESSORS
                    and isinstance(node.value, ast.Name) and node.value.id.endswith("rules")):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_rule_table_is_read_as_a_dict_outside_knowledge() -> None:
    assert raw_table_reads(SRC) == []


def test_the_check_finds_a_raw_read(tmp_path: Path) -> None:
    (tmp_path / "leaky.py").write_text(
        "from ketaclinic.knowledge.outcomes import table\n"
        "from ketaclinic.knowledge import outcomes as outcome_rules\n"
        "x = table()['links']['valid_hours']\n"
        "y = outcome_rules.table()['escalation']\n")
    assert raw_table_reads(tmp_path) == ["leaky.py:1 table", "leaky.py:4 outcome_rules.table"]


def test_escalation_is_typed_from_its_row_and_every_severity_has_its_time() -> None:
    row = load_table("measures")["escalation"]
    rule = outcomes.escalation()
    assert rule.notice_retry_after_min == tuple(row["notice_retry_after_min"])
    assert rule.notice_max_attempts == row["notice_max_attempts"]
    assert "clinic default" in rule.notice_source
    shipped = default_ruleset()
    parameters = load_table("ruleset")["parameters"]
    for severity in {alert.severity for alert in alert_rules()}:  # every severity raised
        name = f"escalate_{severity.replace('-', '_')}_min"
        assert outcomes.escalates_after(shipped, severity) == timedelta(
            minutes=parameters[name]["value"])
    assert outcomes.escalates_after(shipped.with_overrides({"escalate_immediate_min": 15}),
                                    "immediate") == timedelta(minutes=15)


def test_the_other_measure_and_rems_rules_follow_their_rows() -> None:
    table = load_table("measures")
    assert outcomes.link_valid_for() == timedelta(hours=table["links"]["valid_hours"])
    assert outcomes.response_fall_fraction() == table["response"]["fall_fraction"]
    assert outcomes.primary_instruments()["ptsd"] == table["occasions"]["ptsd"][0]
    assert "source" not in outcomes.follow_up_actions()
    assert rems.form_due_within() == timedelta(days=load_table("rems")["due_days"])
