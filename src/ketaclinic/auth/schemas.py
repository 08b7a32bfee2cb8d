"""Shapes for tokens and the current user."""

import uuid

from pydantic import BaseModel

from ketaclinic.wire_types import IsoDateTime


class TokenOut(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 scheme name)
    expires_in: int
    expires_at: IsoDateTime


class MeOut(BaseModel):
    """Who the token belongs to."""

    id: uuid.UUID
    username: str
    display_name: str
    role: str
    sites: list[str]
    patient_id: uuid.UUID | None
