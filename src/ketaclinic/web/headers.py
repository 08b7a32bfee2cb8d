"""Security headers on every response: a Content-Security-Policy that runs scripts from this
site only (no inline script) and forbids framing, no MIME sniffing, a same-origin referrer, HSTS
where logins travel over HTTPS, and no caching of anything but the static files (pages and API
answers carry patient data)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketaclinic.settings import get_settings

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
STATIC = "/static/"


def csp_sending_forms_to(origin: str) -> str:
    """The policy for a page whose form may end at another origin (an OAuth consent that sends
    the browser back to the app's registered redirect URI)."""
    return CSP.replace("form-action 'self'", f"form-action 'self' {origin}")


class SecurityHeadersMiddleware:
    """Adds the headers to each HTTP response (unless a route set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hsts = get_settings().cookie_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(STATIC)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(b"content-security-policy", CSP.encode()),
                         (b"x-frame-options", b"DENY"),
                         (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"same-origin")]
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in extra if name not in present]
            await send(message)

        await self.app(scope, receive, with_headers)
