"""Values the API takes only in the form its OpenAPI document gives: dates and times as ISO 8601
text (a bare number is refused rather than read as seconds since 1970, Pydantic's lax default
turning 0 into 1970-01-01), and yes/no as true or false, not 0 or 1."""

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


def _refuse_numbers(accepted: str) -> Any:
    def check(value: Any) -> Any:
        if type(value) is str and ":" in value:
            return value  # a time of day: no number has a colon (the common case, so first)
        if isinstance(value, int | float) or (isinstance(value, str | bytes)
                                              and _NUMBER.fullmatch(str(value))):
            raise ValueError(f"a number is not a date; write {accepted}")
        return value
    return check


IsoDate = Annotated[date, BeforeValidator(_refuse_numbers("YYYY-MM-DD"))]
IsoDateTime = Annotated[datetime, BeforeValidator(_refuse_numbers("YYYY-MM-DDTHH:MM:SS+HH:MM"))]


def _refuse_number_flags(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("write true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_refuse_number_flags)]
