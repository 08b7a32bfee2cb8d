"""JSON answers encoded with orjson: a FHIR searchset of 50 Observations spent a tenth of its
request's time in the standard library's encoder."""

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    """A JSONResponse whose body orjson writes (UTF-8, compact, as the standard one is)."""

    def render(self, content: Any) -> bytes:
        """The content as compact UTF-8 JSON."""
        return orjson.dumps(content)
