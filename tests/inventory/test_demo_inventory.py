"""The demo clinic's inventory as of past dates, checked against a computation by hand from what
the demo received and the doses its charts record (not from the ledger)."""

import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from ketaclinic.clinics.models import Site
from ketaclinic.inventory import reports
from ketaclinic.treatments.models import TreatmentSession
from tests.cli_helpers import run_cli

VIAL_MG = 500  # the demo's vial: 50 mg/mL x 10 mL
# Harbor Point received 5 vials 80 days before the demo was seeded and 16 more 21 days before.
RECEIPTS = ((80, 5), (21, 16))
DRAW_STEP_MG = 50  # draws are whole mL: 35 mg given is a 50 mg draw, 15 mg wasted


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo-stock')}/demo.db"
    for args in (("db", "upgrade"), ("demo", "--patients", "30")):
        result = run_cli(url, *args)
        assert result.returncode == 0, result.stderr
    return url


def expected_by_hand(doses: list[TreatmentSession], today: date, zone: ZoneInfo,
                     close_of_day: datetime) -> dict[str, Decimal]:
    """Each dose draws whole mL from the first vial, in the order received, still holding that
    much; vials received after the day, and empty ones, are not listed."""
    vials: list[tuple[str, datetime, Decimal]] = []
    for days_ago, count in RECEIPTS:
        received = datetime.combine(today - timedelta(days=days_ago), time(8), tzinfo=zone)
        vials += [(f"C{len(vials) + n + 1:06d}", received, Decimal(VIAL_MG)) for n in range(count)]
    left = {label: mg for label, _, mg in vials}
    for dose in sorted(doses, key=lambda s: s.dose_start):
        if dose.dose_start >= close_of_day:
            break
        given = Decimal(str(dose.dose_given.dose_mg))
        draw = DRAW_STEP_MG * math.ceil(given / DRAW_STEP_MG)
        label = next(label for label, received, _ in vials
                     if received <= dose.dose_start and left[label] >= draw)
        left[label] -= draw
    return {label: left[label] for label, received, _ in vials
            if received < close_of_day and left[label]}


@pytest.mark.parametrize("days_ago", [90, 75, 40, 25, 10])
def test_the_demo_inventory_as_of_a_past_date_matches_the_hand_count(demo: str,
                                                                     days_ago: int) -> None:
    engine = create_engine(demo)
    with Session(engine) as db:
        site = db.execute(select(Site).where(Site.code == "HPC")).scalar_one()
        zone = ZoneInfo(site.time_zone)
        today = datetime.now(zone).date()
        day: date = today - timedelta(days=days_ago)
        close_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        doses = [s for s in db.execute(select(TreatmentSession).where(
            TreatmentSession.site_pk == site.pk)).scalars() if s.dose_given]
        expected = expected_by_hand(doses, today, zone, close_of_day)
        found = reports.inventory_report(db, site, close_of_day - timedelta(microseconds=1))
    engine.dispose()
    assert {r["container"]: r["quantity_mg"] for r in found} == expected
    assert len(doses) >= 30  # the demo's course stories gave their sessions
    if days_ago == 75:
        assert expected == {f"C{n:06d}": Decimal(500) for n in range(1, 6)}


def test_the_inventory_command_writes_the_report(demo: str, tmp_path: Path) -> None:
    out = tmp_path / "inventory.csv"
    result = run_cli(demo, "inventory", "report", "inventory", "--site", "HPC", "--as-of",
                     str(date.today()), "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("cabinet,container,product,ndc,lot")
    bad = run_cli(demo, "inventory", "report", "inventory", "--site", "HPC", "--as-of", "soon",
                  "--out", str(out))
    assert bad.returncode == 2 and "--as-of: 'soon' is not a date" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    dea = run_cli(demo, "inventory", "dea-registration", "--site", "HPC", "--number", "AB1234567")
    assert dea.returncode == 2 and "wrong check digit" in dea.stderr
    assert run_cli(demo, "inventory", "dea-registration", "--site", "HPC",
                   "--number", "AB1234563").returncode == 0
