"""CSRF protection for HTML forms: a random cookie seed and an HMAC of it in every form."""

import hashlib
import hmac
import secrets

from fastapi import Request
from markupsafe import Markup
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketaclinic.errors import Forbidden
from ketaclinic.settings import get_settings

CSRF_COOKIE = "kc_csrf"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sign(seed: str) -> str:
    key = get_settings().secret_key.encode("utf-8")
    return hmac.new(key, seed.encode("utf-8"), hashlib.sha256).hexdigest()


# Where a response's new seed is kept (a list shared by every copy of the request's scope): made
# when a page first asks for a form's token, and sent as the cookie with that page.
_NEW_SEED = "ketaclinic.csrf_new_seed"


def _seed(request: Request) -> str:
    seed = request.cookies.get(CSRF_COOKIE, "")
    new_seed = request.scope.get(_NEW_SEED)
    if seed or new_seed is None:
        return seed
    if not new_seed:
        new_seed.append(secrets.token_urlsafe(24))
    return str(new_seed[0])


def csrf_token(request: Request) -> str:
    """The token a form on this page must post back."""
    return _sign(_seed(request))


def csrf_field(request: Request) -> Markup:
    """The hidden form field carrying the CSRF token."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(request)
    )


async def check_csrf(request: Request) -> None:
    """Reject a form post whose token does not match this browser's cookie."""
    if request.method in SAFE_METHODS:
        return
    form = await request.form()
    posted = str(form.get(CSRF_FIELD, ""))
    seed = request.cookies.get(CSRF_COOKIE, "")
    if not seed or not hmac.compare_digest(posted, _sign(seed)):
        raise Forbidden("The form expired or came from elsewhere; reload the page and try again.")


class CsrfCookieMiddleware:
    """Gives a browser a random CSRF seed cookie with the first page that shows it a form.

    Only then: an API or FHIR client, a liveness probe or a page without a form is not given a
    cookie it would never post back (a random seed a request cost a system call each)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or Request(scope).cookies.get(CSRF_COOKIE):
            await self.app(scope, receive, send)
            return
        new_seed: list[str] = []
        scope[_NEW_SEED] = new_seed

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_seed:
                secure = "; Secure" if get_settings().cookie_secure else ""
                cookie = f"{CSRF_COOKIE}={new_seed[0]}; Path=/; HttpOnly; SameSite=Strict{secure}"
                message.setdefault("headers", [])
                message["headers"].append((b"set-cookie", cookie.encode("latin-1")))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
