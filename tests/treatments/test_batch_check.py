"""A batch of readings is checked a column at a time when every value is possible; the answer
is the same as checking each reading in full: the same readings, or the same problems."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ketaclinic import clock
from ketaclinic.errors import InvalidInput
from ketaclinic.treatments import schemas
from ketaclinic.treatments import service as treatments

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
EARLIEST = NOW - timedelta(hours=30)
LIMITS = dict(zip(treatments.VITAL_FIELDS, treatments._limits(), strict=True))


def _values(field: str) -> st.SearchStrategy[float | None]:
    """Mostly possible values (so whole batches are), and now and then an impossible one."""
    low, high = LIMITS[field]
    possible = st.floats(min_value=max(low, -1e6), max_value=min(high, 1e6))
    return st.one_of(st.none(), possible, possible, possible,
                     st.sampled_from([float("nan"), float("inf"), -float("inf")]), st.floats())


READING = st.builds(
    dict, taken_at=st.one_of(st.none(), st.integers(-40 * 60, 30).map(
        lambda minutes: NOW + timedelta(minutes=minutes))),
    **{field: _values(field) for field in treatments.VITAL_FIELDS})


@settings(max_examples=500, deadline=None)
@given(st.lists(READING, min_size=1, max_size=6))
# A NaN after a possible value passes a column's min and max: the column's sum is NaN.
@example([{"systolic_mmhg": 120.0}, {"systolic_mmhg": float("nan")}])
@example([{"spo2_pct": 97.0, "diastolic_mmhg": 70.0, "systolic_mmhg": 110.0},
          {"spo2_pct": 98.0, "diastolic_mmhg": 120.0, "systolic_mmhg": 110.0}])
def test_a_batch_is_refused_exactly_when_a_reading_has_a_problem(batch) -> None:
    readings = [schemas.ReadingIn(**reading) for reading in batch]
    taken = [r.taken_at or NOW for r in readings]
    vitals = [treatments._VITALS_OF(r) for r in readings]
    expected = treatments._problems(taken, vitals, EARLIEST, NOW, treatments._limits())
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(clock, "now", lambda: NOW)
            checked = treatments._check(readings, EARLIEST)
    except InvalidInput as refused:
        assert refused.problems == expected and expected
    else:
        assert expected == []
        assert [(r.taken, r.systolic_mmhg, r.spo2_pct) for r in checked] == [
            (t, v[0], v[4]) for t, v in zip(taken, vitals, strict=True)]
