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


def _seed(request: Request) -> str:
    return str(request.scope.get("csrf_seed") or request.cookies.get(CSRF_COOKIE, ""))


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
    """Gives every browser a random CSRF seed cookie the first time it visits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or Request(scope).cookies.get(CSRF_COOKIE):
            await self.app(scope, receive, send)
            return
        seed = secrets.token_urlsafe(24)
        scope["csrf_seed"] = seed
        secure = "; Secure" if get_settings().cookie_secure else ""
        cookie = f"{CSRF_COOKIE}={seed}; Path=/; HttpOnly; SameSite=Strict{secure}"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((b"set-cookie", cookie.encode("latin-1")))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
