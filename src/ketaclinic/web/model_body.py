"""A request's JSON body as its route's model, for a route that checks its caller before reading
its body (web/one_thread.py).

A valid body is parsed and checked in one pass by pydantic from the raw bytes: on a batch of 100
vital-sign readings that is a fraction of FastAPI's way, the `json` module's parse and then a
check of the parsed value. A body that fails is read again FastAPI's way, so what it is refused
with (the 422 naming each field, or the JSON error) is what FastAPI says for it.
"""

import email.message
import json
from functools import lru_cache
from typing import Any

from fastapi import HTTPException, Request, params
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined


def model_type(field: Any) -> type[BaseModel] | None:
    """The model a body parameter (a `Dependant`'s body field) is, if it is a required model with
    nothing else declared about it (not a form, not embedded, no constraints); else None."""
    info = field.field_info
    annotation = info.annotation
    if (not isinstance(annotation, type) or not issubclass(annotation, BaseModel)
            or not isinstance(info, params.Body) or isinstance(info, params.Form)
            or not info.is_required() or info.metadata or info.embed):
        return None
    return annotation


@lru_cache(maxsize=64)
def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this content type as JSON (`application/json` or
    `application/...+json`); kept per content type, as a client sends the same one each time."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


async def model_body(request: Request, field: Any, model: type[BaseModel]) -> BaseModel:
    """The body as the model; RequestValidationError, as FastAPI raises it, if it is not one."""
    raw = await request.body()
    as_json = is_json(request.headers.get("content-type"))
    if raw and as_json:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # read again below, so the refusal is FastAPI's
    return await _as_fastapi_reads_it(request, raw, as_json, field)


async def _as_fastapi_reads_it(request: Request, raw: bytes, as_json: bool, field: Any) -> Any:
    """FastAPI's reading of a model body (fastapi/routing.py, `get_request_handler`): nothing if
    empty, parsed if JSON, else the bytes; then checked against the field."""
    body: Any = PydanticUndefined
    if raw:
        body = raw
        if as_json:
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise RequestValidationError(
                    [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                      "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
            except Exception as exc:  # not text at all, for one
                raise HTTPException(status_code=400,
                                    detail="There was an error parsing the body") from exc
    values, errors = await request_body_to_args(body_fields=[field], received_body=body,
                                                embed_body_fields=False)
    if errors:
        raise RequestValidationError(errors, body=body)
    return values[field.name]
