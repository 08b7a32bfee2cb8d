"""Dates and times that the API takes only as ISO 8601 text: a bare number is refused rather
than read as seconds since 1970 (Pydantic's lax default would turn 0 into 1970-01-01)."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")


def _refuse_numbers(accepted: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, int | float) or (isinstance(value, str | bytes)
                                              and _NUMBER.fullmatch(str(value))):
            raise ValueError(f"a number is not a date; write {accepted}")
        return value
    return check


IsoDate = Annotated[date, BeforeValidator(_refuse_numbers("YYYY-MM-DD"))]
IsoDateTime = Annotated[datetime, BeforeValidator(_refuse_numbers("YYYY-MM-DDTHH:MM:SS+HH:MM"))]
