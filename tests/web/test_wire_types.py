"""Dates and times are taken only as ISO 8601 text: a number, or text that is a number, is
refused rather than read as seconds since 1970."""

from datetime import UTC, date, datetime

import pytest
from pydantic import BaseModel, ValidationError

from ketaclinic.treatments.schemas import ReadingsIn
from ketaclinic.wire_types import IsoDate, IsoDateTime


class When(BaseModel):
    at: IsoDateTime | None = None
    on: IsoDate | None = None


@pytest.mark.parametrize("number", [0, 1700000000, 1.5, "0", " 1700000000 ", "-12.5", "1e9",
                                    "+3", ".5"])
def test_a_number_is_not_a_time_or_a_date(number: object) -> None:
    for field in ("at", "on"):
        with pytest.raises(ValidationError, match="a number is not a date; write YYYY-MM-DD"):
            When.model_validate({field: number})


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-04T06:30:00+00:00", datetime(2026, 12, 4, 6, 30, tzinfo=UTC)),
    ("2026-12-04T06:30:00Z", datetime(2026, 12, 4, 6, 30, tzinfo=UTC)),
    ("2026-12-04 06:30:00.250+00:00", datetime(2026, 12, 4, 6, 30, 0, 250000, tzinfo=UTC))])
def test_iso_text_is_a_time(text: str, expected: datetime) -> None:
    assert When.model_validate({"at": text}).at == expected


def test_iso_text_is_a_date_and_other_text_is_refused_as_pydantic_refuses_it() -> None:
    assert When.model_validate({"on": "2026-12-04"}).on == date(2026, 12, 4)
    with pytest.raises(ValidationError, match="Input should be a valid datetime"):
        When.model_validate({"at": "soon"})


def test_a_reading_taken_at_a_number_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        ReadingsIn.model_validate({"readings": [
            {"taken_at": "2026-12-04T06:30:00+00:00", "systolic_mmhg": 120},
            {"taken_at": 1764829800, "systolic_mmhg": 121}]})
    [error] = refused.value.errors()
    assert error["loc"] == ("readings", 1, "taken_at") and "a number is not a date" in error["msg"]
