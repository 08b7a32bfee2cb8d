"""SMART on FHIR discovery and the OAuth 2.0 token endpoint for registered clients."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic import clock
from ketaclinic.auth import clients, oauth_server, signing_key
from ketaclinic.settings import get_settings
from ketaclinic.web.deps import DB, client_of
from ketaclinic.web.forms import FORM, form_values
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.openapi_errors import PROBLEM_SCHEMA

router = APIRouter(route_class=OneTripRoute, tags=["SMART on FHIR"])
AUTHORIZE_PATH = "/oauth/authorize"
JWKS_PATH = "/oauth/jwks"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAUTH_ERROR = {"schema": {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "error_description": {"type": "string"}}}}
PROBLEM = {"schema": PROBLEM_SCHEMA}
TOKEN_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "An OAuth 2.0 error (RFC 6749 section 5.2), or a malformed request",
          "content": {"application/json": OAUTH_ERROR, "application/problem+json": PROBLEM}},
    401: {"description": "The client could not be authenticated (invalid_client)",
          "content": {"application/json": OAUTH_ERROR, "application/problem+json": PROBLEM}},
}


SCOPES_SUPPORTED = ["openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs",
                    "user/*.rs", "user/*.cruds", "system/*.rs", "patient/*.read", "user/*.read",
                    "system/*.read"]


def smart_configuration() -> dict[str, Any]:
    """What a SMART client needs to know to get a token here (SMART App Launch 2.0 discovery)."""
    base = get_settings().public_url.rstrip("/")
    return {
        "issuer": base,
        "jwks_uri": base + JWKS_PATH,
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + oauth_server.TOKEN_PATH,
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": clients.ALGORITHMS,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES_SUPPORTED,
        "management_endpoint": base + "/account/apps",
        "capabilities": ["launch-standalone", "client-public", "client-confidential-asymmetric",
                         "context-standalone-patient", "sso-openid-connect",
                         "permission-patient", "permission-user", "permission-offline",
                         "permission-v2", "permission-v1"],
    }


@router.get("/.well-known/openid-configuration")
def openid_configuration() -> JSONResponse:
    """OpenID Connect discovery for the id tokens issued with `openid`."""
    smart = smart_configuration()
    return JSONResponse({
        key: smart[key] for key in ("issuer", "jwks_uri", "authorization_endpoint",
                                    "token_endpoint", "response_types_supported",
                                    "scopes_supported", "grant_types_supported",
                                    "code_challenge_methods_supported")
    } | {"subject_types_supported": ["public"],
         "id_token_signing_alg_values_supported": [signing_key.ALGORITHM],
         "claims_supported": ["sub", "name", "fhirUser"]})


@router.get(JWKS_PATH)
def jwks() -> JSONResponse:
    """The public key id tokens are signed with."""
    return JSONResponse(signing_key.public_jwks())


@router.get("/.well-known/smart-configuration")
@router.get("/fhir/.well-known/smart-configuration")
def discovery() -> JSONResponse:
    """The SMART configuration, at the server's root and under the FHIR base."""
    return JSONResponse(smart_configuration())


@router.post(oauth_server.TOKEN_PATH, responses=TOKEN_ERRORS)
def token(request: Request, db: Session = DB, form: FormData = FORM) -> JSONResponse:
    """Issue an access token: an app's authorization code (with its PKCE verifier) or refresh
    token, or `client_credentials` with a signed client assertion (SMART Backend Services).
    Errors are OAuth 2.0's (`{"error": ..., "error_description": ...}`)."""
    status, body, _ = oauth_server.token_response(
        db, form=form_values(form), headers=dict(request.headers),
        address=client_of(request), now=clock.now())
    return JSONResponse(body, status_code=status, headers=NO_STORE)
