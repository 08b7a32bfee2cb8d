"""Shapes for tokens, the current user and registered clients."""

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class ClientIn(BaseModel):
    """A client to register: what it is, which site it acts for, and its public keys."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100)
    kind: str = Field(max_length=20, description="cds-client, smart-app or backend-service")
    site: str = Field(max_length=20, description="code of the site it acts for")
    client_id: str = Field(default="", max_length=300,
                           description="a CDS client's issuer URL; made up for apps if empty")
    jwks: dict[str, Any] | None = Field(default=None, description="its public JWK Set")
    jwks_url: str = Field(default="", max_length=500)
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    scopes: str = Field(default="", max_length=1000)


class ClientOut(BaseModel):
    """A registered client (its public keys are not repeated back)."""

    id: uuid.UUID
    client_id: str
    name: str
    kind: str
    site: str
    jwks_url: str
    has_jwks: bool
    redirect_uris: list[str]
    scopes: list[str]
    active: bool
    created_at: str
    created_by: str
