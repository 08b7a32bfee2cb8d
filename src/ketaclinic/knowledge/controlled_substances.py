"""The controlled-substance record rules of controlled_substances.toml (21 CFR, and the clinic's
diversion-review default), as typed rules."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class RecordKeeping:
    """How long records are kept."""

    retention_years: int
    source: str


@dataclass(frozen=True)
class InventoryRule:
    """How often the full inventory is taken, and when an opened container must be counted."""

    interval_years: int
    source: str
    exact_count_above_units: int
    exact_count_source: str


@dataclass(frozen=True)
class LossReportRule:
    """How soon a theft or significant loss is notified."""

    business_days: int  # Monday to Friday, federal holidays not counted (`business_days`)
    source: str
    holidays_source: str


@dataclass(frozen=True)
class OutlierRule:
    """When a prescriber's or patient's usage is far from the others' (modified z-score)."""

    modified_z: float
    min_peers: int
    source: str


@cache
def _table() -> dict[str, dict[str, object]]:
    return load_table("controlled_substances")


def record_keeping() -> RecordKeeping:
    """The retention rule."""
    row = _table()["records"]
    return RecordKeeping(int(str(row["retention_years"])), str(row["source"]))


def inventory_rule() -> InventoryRule:
    """The biennial inventory rule."""
    row = _table()["inventory"]
    return InventoryRule(int(str(row["interval_years"])), str(row["source"]),
                         int(str(row["exact_count_above_units"])), str(row["exact_count_source"]))


def loss_report_rule() -> LossReportRule:
    """The theft-or-loss notice rule."""
    row = _table()["loss_report"]
    return LossReportRule(int(str(row["business_days"])), str(row["source"]),
                          str(row["holidays_source"]))


def outlier_rule() -> OutlierRule:
    """The usage review's outlier rule."""
    row = _table()["usage_outliers"]
    return OutlierRule(float(str(row["modified_z"])), int(str(row["min_peers"])), str(row["source"]))
