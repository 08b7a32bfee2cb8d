"""The controlled-substance rules as typed values, each with its source."""

from ketaclinic.knowledge import controlled_substances as rules


def test_the_record_rules_are_typed_and_sourced() -> None:
    assert rules.record_keeping().retention_years == 2
    assert "1304.04" in rules.record_keeping().source
    inventory = rules.inventory_rule()
    assert inventory.interval_years == 2 and inventory.exact_count_above_units == 1000
    assert "1304.11" in inventory.source and inventory.exact_count_source
    assert rules.loss_report_rule().business_days == 1
    outliers = rules.outlier_rule()
    assert outliers.modified_z == 3.5 and outliers.min_peers == 3 and outliers.source
