"""JSON API for registered clients (administrators of the clients' sites)."""

import json

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ketaclinic.auth import clients
from ketaclinic.auth.schemas import ClientIn, ClientOut
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.deps import DB, require
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix="/api/v1/clients", tags=["clients"])
MANAGE = Depends(require(Permission.CLIENTS_MANAGE))


@router.get("", response_model=list[ClientOut])
def list_clients(actor: Actor = MANAGE, db: Session = DB) -> list[ClientOut]:
    """The clients registered for the administrator's sites."""
    return [ClientOut(**clients.describe(c)) for c in clients.clients_of(db=db, actor=actor)]


@router.post("", response_model=ClientOut, status_code=201)
def register_client(data: ClientIn, actor: Actor = MANAGE, db: Session = DB) -> ClientOut:
    """Register a CDS client, SMART app or backend service for one of the administrator's sites."""
    client = clients.register(
        db=db, name=data.name, kind=data.kind, site_code=data.site, client_id=data.client_id,
        jwks=json.dumps(data.jwks) if data.jwks is not None else "", jwks_url=data.jwks_url,
        redirect_uris=data.redirect_uris, scopes=data.scopes, actor=actor)
    return ClientOut(**clients.describe(client))


@router.post("/{client_ref}/disable", response_model=ClientOut)
def disable_client(client_ref: str, actor: Actor = MANAGE, db: Session = DB) -> ClientOut:
    """Disable a client: its JWTs and tokens are refused from now on."""
    return ClientOut(**clients.describe(clients.set_active(db=db, client_ref=client_ref,
                                                           active=False, actor=actor)))


@router.post("/{client_ref}/enable", response_model=ClientOut)
def enable_client(client_ref: str, actor: Actor = MANAGE, db: Session = DB) -> ClientOut:
    """Enable a disabled client again."""
    return ClientOut(**clients.describe(clients.set_active(db=db, client_ref=client_ref,
                                                           active=True, actor=actor)))
