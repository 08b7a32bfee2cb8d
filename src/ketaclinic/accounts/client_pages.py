"""The administrator's page of registered clients: register, disable, enable."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic.auth import clients
from ketaclinic.clinics import service as clinics
from ketaclinic.errors import NotFound
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, form_values
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)
MANAGE = Depends(require(Permission.CLIENTS_MANAGE))
ACTIONS = {"disable": False, "enable": True}


def _page(request: Request, db: Session, actor: Actor, values: dict[str, str],
          errors: list[str], status_code: int = 200) -> Response:
    return render(request, "auth/clients.html", status_code=status_code,
                  clients=clients.clients_of(db=db, actor=actor), kinds=clients.KINDS,
                  sites=clinics.sites_of(db=db, actor=actor), values=values, errors=errors)


@router.get("/admin/clients", response_class=HTMLResponse)
def clients_page(request: Request, actor: Actor = MANAGE, db: Session = DB) -> Response:
    """The registered clients of the administrator's sites, and the form to add one."""
    return _page(request, db, actor, {}, [])


@router.post("/admin/clients")
def client_register(request: Request, actor: Actor = MANAGE, db: Session = DB,
                    form: FormData = FORM) -> Response:
    """Register a client; on bad input show the page again with the reasons."""
    values = form_values(form)
    return form_action(db, lambda: clients.register(
        db=db, name=values.get("name", ""), kind=values.get("kind", ""),
        site_code=values.get("site", ""), client_id=values.get("client_id", ""),
        jwks=values.get("jwks", ""), jwks_url=values.get("jwks_url", ""),
        redirect_uris=values.get("redirect_uris", "").split(), scopes=values.get("scopes", ""),
        actor=actor), done="/admin/clients",
        again=lambda errors, status: _page(request, db, actor, values, errors, status))


@router.post("/admin/clients/{client_ref}/{action}")
def client_action(client_ref: str, action: str, actor: Actor = MANAGE,
                  db: Session = DB) -> Response:
    """Disable or enable a client."""
    clients.managed_client(db=db, client_ref=client_ref, actor=actor)
    if action not in ACTIONS:
        raise NotFound(f"no action {action!r} (accepted: {', '.join(ACTIONS)})")
    clients.set_active(db=db, client_ref=client_ref, active=ACTIONS[action], actor=actor)
    return RedirectResponse("/admin/clients", status_code=303)
