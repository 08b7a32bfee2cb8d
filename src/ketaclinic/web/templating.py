"""Jinja2 templates with the helpers every page uses."""

import re
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ketaclinic import clock
from ketaclinic.kernel.permissions import ROLE_LABELS, Permission, Role, allows
from ketaclinic.knowledge import sources
from ketaclinic.knowledge.record import pressure_text
from ketaclinic.settings import get_settings
from ketaclinic.web.csrf import csrf_field

templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))
SHOWN = "%Y-%m-%d %H:%M %Z"
# The zone of the page being rendered: any moment a template prints as it is appears in it.
_page_zone: ContextVar[str] = ContextVar("page_zone", default="UTC")


def local_time(value: datetime | None, tz: str, fmt: str = SHOWN) -> str:
    """A UTC timestamp shown in the clinic's time zone, labelled with the zone by default."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _shown(value: Any) -> Any:
    """Every moment a page prints without a filter, in the page's zone and labelled (stored
    times are UTC; people read local time)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return local_time(value, _page_zone.get())
    return value


templates.env.finalize = _shown
_RECORD_REFERENCE = re.compile(r"^(\w+)/[0-9a-fA-F-]{36} \((.*)\)$")
_KINDS = {"Condition": "condition", "MedicationStatement": "medication",
          "MedicationRequest": "medication", "AllergyIntolerance": "allergy",
          "Observation": "observation", "Patient": "patient"}


def evidence_text(evidence: str) -> str:
    """A screening finding's evidence as a person reads it: what the record is ('condition:
    Major depressive disorder; active ...'), not its 'Condition/<uuid>' reference."""
    found = _RECORD_REFERENCE.match(evidence)
    if not found:
        return evidence
    return f"{_KINDS.get(found.group(1), found.group(1))}: {found.group(2)}"


def blood_pressure(reading: Any) -> str:
    """A reading's blood pressure as `pressure_text` writes it, each side to the whole mmHg."""
    sides = (getattr(reading, "systolic_mmhg", None), getattr(reading, "diastolic_mmhg", None))
    return pressure_text(*(None if side is None else round(side) for side in sides))


def age_on(birth_date: date, today: date) -> int:
    """Whole years of age on a day."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


templates.env.globals.update(
    csrf_field=csrf_field,
    server_now=lambda: clock.now().isoformat(),
    cite=sources.named,
    timedelta=timedelta,
    Permission=Permission,
    allows=allows,
    role_label=lambda role: ROLE_LABELS.get(Role(role), role) if role in set(Role) else role,
)
templates.env.filters["local_time"] = local_time
templates.env.filters["evidence_text"] = evidence_text
templates.env.filters["blood_pressure"] = blood_pressure


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the request, the current actor and the demo flag in its context."""
    context.setdefault("actor", getattr(request.state, "actor", None))
    context["demo"] = get_settings().demo
    actor = context["actor"]
    zone = str(context.get("tz") or getattr(actor, "time_zone", "") or "UTC")
    token = _page_zone.set(zone)
    try:
        return templates.TemplateResponse(request, name, context, status_code=status_code)
    finally:
        _page_zone.reset(token)
