"""Courses on the wire."""

import uuid
from typing import Any

from pydantic import BaseModel

from ketaclinic.wire_types import IsoDateTime


class TransitionOut(BaseModel):
    """One dated change of a course's state."""

    from_state: str | None
    to_state: str
    at: IsoDateTime
    reason: str
    by: str


class CourseOut(BaseModel):
    """A course: its signed dose, its dated plan, where it stands and how it got there."""

    id: uuid.UUID
    route: str
    indication: str
    prescriber: str
    signed_at: IsoDateTime
    state: str
    dose: dict[str, Any] | None
    plan: dict[str, Any] | None
    transitions: list[TransitionOut]
