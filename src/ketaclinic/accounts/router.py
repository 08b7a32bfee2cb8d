"""JSON API for tokens and the current user."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.auth import credentials
from ketaclinic.auth import service as auth
from ketaclinic.auth.schemas import MeOut, TokenOut
from ketaclinic.errors import NotAuthenticated
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import service as patients
from ketaclinic.web.deps import DB, client_of, require
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenOut)
def issue_token(
    request: Request,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1000)],
    totp: Annotated[str, Form(max_length=10, description=(
        "two-factor code (required for roles that must use two-factor)"))] = "",
    db: Session = DB,
) -> TokenOut:
    """Exchange username and password (and a two-factor code if enrolled) for a bearer token."""
    client = client_of(request)
    result = credentials.check(db=db, username=username, password=password, address=client,
                               purpose="api token", code=totp)
    user = result.user
    if user is None:
        raise NotAuthenticated(result.message).keeping_changes()  # the failed attempt counts
    raw, expires_at = auth.issue_token(db=db, user=user, kind=auth.TOKEN_API, client=client)
    auth.record_login(db=db, user=user, client=client, how="api token")
    return TokenOut(access_token=raw, expires_at=expires_at,
                    expires_in=int((expires_at - clock.now()).total_seconds()))


@router.get("/me", response_model=MeOut)
def who_am_i(
    actor: Actor = Depends(require(Permission.ACCOUNT)), db: Session = DB
) -> MeOut:
    """The user the token belongs to."""
    user = auth.user_of(db, actor)
    patient_id = None if user.patient_pk is None else patients.id_of(db, user.patient_pk)
    return MeOut(id=user.id, username=user.username, display_name=user.display_name,
                 role=user.role, sites=[s.code for s in user.sites], patient_id=patient_id)
