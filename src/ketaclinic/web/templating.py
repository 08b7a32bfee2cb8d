"""Jinja2 templates with the helpers every page uses."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ketaclinic import clock
from ketaclinic.auth.permissions import ROLE_LABELS, Permission, Role, allows
from ketaclinic.knowledge import sources
from ketaclinic.settings import get_settings
from ketaclinic.web.csrf import csrf_field

templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp shown in the clinic's time zone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


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


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the request, the current actor and the demo flag in its context."""
    context.setdefault("actor", getattr(request.state, "actor", None))
    context["demo"] = get_settings().demo
    return templates.TemplateResponse(request, name, context, status_code=status_code)
