"""The billing commands on a CLI-seeded demo clinic: prices set, bad input refused in one line."""

from tests.cli_helpers import run_cli
from tests.scheduling.test_maintenance import demo

__all__ = ["demo"]


def test_billing_commands_set_prices_and_refuse_bad_input(demo: str) -> None:
    ok = run_cli(demo, "billing", "price", "--site", "HPC", "--item", "96365", "--cents", "47500",
                 "--from", "2027-01-01")
    assert ok.returncode == 0, ok.stderr
    bad = run_cli(demo, "billing", "price", "--site", "HPC", "--item", "00000", "--cents", "1",
                  "--from", "2027-01-01")
    assert bad.returncode == 2 and "Item: '00000' is not a billable item" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    band = run_cli(demo, "billing", "band", "--site", "HPC", "--name", "B", "--income-cents",
                   "100", "--discount", "101", "--from", "2027-01-01")
    assert band.returncode == 2 and "Discount (%)" in band.stderr
