"""Which of the user's sites a page shows: the one asked for, else the one chosen last, else the
first."""

from fastapi import Request

from ketaclinic.clinics.models import Site

SITE_COOKIE = "kc_site"


def current_site(request: Request, sites: list[Site], chosen: str = "") -> Site | None:
    """The site the user chose (query or cookie) if it is theirs, else their first."""
    wanted = chosen or request.cookies.get(SITE_COOKIE, "")
    return next((s for s in sites if s.code == wanted), sites[0] if sites else None)
