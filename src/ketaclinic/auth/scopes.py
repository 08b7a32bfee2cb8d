"""SMART on FHIR scopes (v2 syntax, with v1's `read`/`write`/`*` understood): which FHIR
interactions a token's scopes open. A scope narrows what the role allows; it never widens it."""

import re
from dataclasses import dataclass

# v2 permissions, in the order the syntax requires; v1 names map onto them.
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$")
PERMISSION_ORDER = "cruds"


@dataclass(frozen=True)
class ResourceScope:
    """One resource scope: context (patient, user, system), type (or *), permissions."""

    context: str
    resource_type: str
    permissions: str

    def covers(self, resource_type: str, permission: str) -> bool:
        """Whether this scope allows one permission (c, r, u, d or s) on a type."""
        return self.resource_type in ("*", resource_type) and permission in self.permissions


def parse(scope: str) -> ResourceScope | None:
    """A resource scope from its text, or None for other scopes (openid, launch/patient ...)."""
    match = SCOPE.match(scope)
    if match is None:
        return None
    context, resource_type, permissions = match.groups()
    permissions = V1.get(permissions, permissions)
    ordered = "".join(p for p in PERMISSION_ORDER if p in permissions)
    if ordered != permissions:  # v2 letters out of order or unknown: not a scope
        return None
    return ResourceScope(context, resource_type, permissions)


def resource_scopes(scopes: frozenset[str]) -> list[ResourceScope]:
    """The resource scopes among a token's scopes."""
    return [found for found in map(parse, scopes) if found is not None]


def allows(scopes: frozenset[str], resource_type: str, permission: str) -> bool:
    """Whether any of the scopes allows this permission on this resource type."""
    return any(s.covers(resource_type, permission) for s in resource_scopes(scopes))


def within(requested: str, allowed: str) -> bool:
    """Whether a requested scope is no wider than one allowed at registration."""
    if requested == allowed:
        return True
    wanted, granted = parse(requested), parse(allowed)
    return (wanted is not None and granted is not None and wanted.context == granted.context
            and granted.resource_type in ("*", wanted.resource_type)
            and set(wanted.permissions) <= set(granted.permissions))


# What a FHIR request asks of the token: (resource type or "*", permission letters, all needed).
def needed(method: str, path: str) -> tuple[str, str] | None:
    """The (resource type, permissions) a FHIR request needs from the token's scopes, "*" for
    operations over every type (bulk export, $everything, transactions); None for a path that
    is not a FHIR interaction a scope can open."""
    if path != "/fhir" and not path.startswith("/fhir/"):
        return None  # an OAuth token opens the FHIR API only
    parts = [p for p in path.removeprefix("/fhir").split("/") if p]
    if not parts:
        return ("*", "cu") if method == "POST" else None  # a transaction or batch
    if parts[0] in ("$export", "$export-status", "$export-file") or parts[-1] == "$export":
        return ("*", "rs") if parts[0] == "$export" or parts[-1] == "$export" else ("*", "")
    if parts[-1] == "$everything":
        return ("*", "rs")
    resource_type = parts[0]
    if method in ("GET", "HEAD"):
        return (resource_type, "r" if len(parts) > 1 else "s")
    if method == "POST" and len(parts) == 1:
        return (resource_type, "c")
    if method == "PUT" and len(parts) == 2:
        return (resource_type, "u")
    return None


def allows_request(scopes: frozenset[str], method: str, path: str) -> bool:
    """Whether a token with these scopes may make this FHIR request."""
    need = needed(method, path)
    if need is None:
        return False
    resource_type, permissions = need
    found = resource_scopes(scopes)
    if resource_type == "*":  # every type: a wildcard scope must hold every letter
        return bool(found) and all(any(s.resource_type == "*" and p in s.permissions
                                       for s in found) for p in permissions)
    return all(any(s.covers(resource_type, p) for s in found) for p in permissions)
