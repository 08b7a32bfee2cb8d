"""Request dependencies: the db session, who is calling, and the permission gate."""

import asyncio
import functools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import cache
from typing import Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.audit.models import AuditEvent
from ketaclinic.auth import actor_cache, emergency, oauth_server, scopes
from ketaclinic.auth import service as auth
from ketaclinic.db import one_writer_at_a_time, reader_session_factory, session_factory
from ketaclinic.errors import Forbidden, MustChangePassword, NotAuthenticated
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission, allows
from ketaclinic.worker_threads import MOST_THREADS, WorkerThreads, in_thread, settled

API_PREFIX = "/api/v1"
# Paths answered with bearer tokens and problem+json rather than cookies and pages.
BEARER_PREFIXES = (API_PREFIX, "/cds-services", "/fhir")
SESSION_COOKIE = "kc_session"
OAUTH_TOKEN = "oauth"  # noqa: S105 (a kind of token, not a secret)
READ_METHODS = frozenset({"GET", "HEAD"})
# Set in the request's state when a read is run again as a writer (web/read_retry.py).
WRITER = "ketaclinic.writer"
# Set in a session's info once its request has ended it (`finish_in_thread`).
ENDED = "ketaclinic.ended"
# The only pages open to a user whose password an administrator reset.
PASSWORD_PAGES = frozenset({"/account/password", "/logout"})
T = TypeVar("T")


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One db session per request, committed when the route returns and before the answer is
    sent (what a user is told was saved has been), rolled back when it raises; a refusal that
    records something (a failed attempt, a discrepancy for the administrator) keeps it.

    A GET or HEAD starts by reading (on SQLite with no lock); other methods are writers from the
    start, and on SQLite wait their turn on the event loop before the session is made. Its audit
    events are held to the end: written with its changes if it wrote, else grouped with other
    readers'. Making the session touches no database, so it is done on the event loop; the end
    (commit, or rollback) is blocking work and goes to a thread, as the route's own work does."""
    reading = request.method in READ_METHODS and not request.scope.get("state", {}).get(WRITER)
    gate = None if reading or not one_writer_at_a_time() else _writers_gate()
    if gate is not None:
        await gate.acquire()
    try:
        db = (reader_session_factory() if reading else session_factory())()
        audit.hold(db)
        try:
            yield db
        except BaseException as exc:
            if not db.info.get(ENDED):
                await _ENDINGS.run(_abandon, db, exc)
            raise
        else:
            if db.info.get(ENDED):  # by the route, in its own thread (web/one_thread.py)
                return
            await seen_to_its_end(_ENDINGS, _ended, db)
    finally:
        if gate is not None:
            gate.release()


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary())


def _writers_gate() -> asyncio.Lock:
    # Where the database takes one writer at a time (SQLite), writing requests queue here, on the
    # event loop, rather than each in a request thread: a thread parked on the write lock
    # is one fewer for the writer that holds it, which needs one to check its response before it
    # commits, and with enough writers parked none is left (every write then fails).
    return _GATES.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def finish_in_thread(db: Session) -> list[AuditEvent]:
    """End a request's session where its route ran (the commit, with the audit events of a
    write), so that `get_db` has nothing left to do: the events of a request that only read,
    still to be written (`audit.write_held`)."""
    held = _finish(db)
    db.info[ENDED] = True
    return held


async def seen_to_its_end(threads: WorkerThreads,
                          work: Callable[..., tuple[T, list[AuditEvent]]], *args: object) -> T:
    """Run a request's last blocking work (which ends its session) in one of `threads`, seen
    to its end even when the client hangs up: what it read is audited and its transaction never
    left half ended. The work hands back its answer and the read events still to be written;
    they were queued before the first wait, so the readers' group writes them whoever waits."""
    done = threads.submit(work, *args)
    cancelled = await settled(done)
    answer, held = done.result()
    if held:
        await audit.write_held(held)
    if cancelled:
        raise asyncio.CancelledError
    return answer


def _ended(db: Session) -> tuple[None, list[AuditEvent]]:
    return None, _finish(db)


def _finish(db: Session) -> list[AuditEvent]:
    try:
        return audit.end(db)
    finally:
        db.close()


def _abandon(db: Session, exc: BaseException) -> None:
    try:
        if getattr(exc, "keeps_changes", False):
            audit.commit(db)
        else:
            audit.drop_held(db)
            db.rollback()
    finally:
        db.close()


# Where sessions end: seen to the end, so a client that hangs up cannot leave a transaction
# open; threads of their own, outside the requests' (as FastAPI ends its own threaded
# dependencies), so ending one never waits behind requests that wait for a connection this one
# would give back.
_ENDINGS = WorkerThreads(MOST_THREADS, name="ketaclinic-session-end")


# `get_db` as a context manager, for a route that makes its session itself (web/one_thread.py).
request_session = asynccontextmanager(get_db)

# Every route and dependency takes the session through this one marker: the same session for the
# whole request, closed (committed) when the route function returns, before the response goes
# out; the default scope would commit after the response was already sent.
DB = Depends(get_db, scope="function")


def client_of(request: Request) -> str:
    """The caller's network address for the audit trail."""
    return request.client.host if request.client else ""


def is_api(request: Request) -> bool:
    """Whether the request is for the JSON API (bearer tokens, problem+json)."""
    # the scope's path, not `request.url`: building the URL cost more than the rest of the check
    return str(request.scope["path"]).startswith(BEARER_PREFIXES)


def bearer_token(request: Request) -> str:
    """The raw bearer token from the Authorization header, or ''."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def authenticate(request: Request, db: Session) -> Actor:
    """The actor behind the bearer token (API) or login cookie (pages); NotAuthenticated if none.
    A token seen in the last few seconds is known without reading it again (auth.actor_cache),
    and then without leaving the event loop."""
    if is_api(request):
        raw, kind = bearer_token(request), auth.TOKEN_API
        if raw.startswith(oauth_server.TOKEN_PREFIX):
            kind = OAUTH_TOKEN
    else:
        raw, kind = request.cookies.get(SESSION_COOKIE, ""), auth.TOKEN_WEB
    known = actor_cache.get(raw, kind)
    if known is None:
        read = _read_oauth_token if kind == OAUTH_TOKEN else _read_token
        known = await in_thread(read, db, raw, kind)
    if known.must_change_password and request.url.path not in PASSWORD_PAGES:
        raise MustChangePassword("Your password was reset: choose a new one (My account, "
                                 "Change your password) before anything else.")
    address = client_of(request)
    if known.actor.client.startswith("client:"):  # a user acting through a registered app
        address = f"{address} {known.actor.client}"[:100]
    return known.acting_from(address)


def _read_token(db: Session, raw: str, kind: str) -> actor_cache.Known:
    token = auth.resolve_token(db=db, raw=raw, kinds={kind})
    if token is None:
        # keep an idle-expired token revoked
        raise NotAuthenticated("Log in first: no valid login or token (it may have expired)."
                               ).keeping_changes()
    actor = auth.actor_for(token.user)
    if actor.role in emergency.CLINICAL_ROLES:
        granted = emergency.active_patient_pks(db, token.user.pk)
        if granted:
            actor = replace(actor, emergency_patient_pks=granted)
    actor_cache.put(raw, kind, actor, must_change_password=token.user.must_change_password,
                    token_expires_at=token.expires_at)
    return actor_cache.Known(actor, token.user.must_change_password, token.expires_at)


def _read_oauth_token(db: Session, raw: str, kind: str) -> actor_cache.Known:
    found = oauth_server.actor_of_token(db, raw, "", clock.now())
    if found is None:
        raise NotAuthenticated("The access token is unknown, expired or revoked, or its client "
                               "is disabled: ask the token endpoint for a new one.")
    actor, expires_at = found
    actor_cache.put(raw, kind, actor, must_change_password=False, token_expires_at=expires_at)
    return actor_cache.Known(actor, False, expires_at)


async def permitted(request: Request, db: Session, permission: Permission) -> Actor:
    """The caller, if their role (and their token's scopes) allow the permission; else the
    refusal is audited and Forbidden raised."""
    actor = await authenticate(request, db)
    scoped_out = actor.scopes is not None and not scopes.allows_request(
        actor.scopes, request.method, request.url.path)
    if scoped_out or not allows(actor.role, permission):
        need = "a scope for it" if scoped_out else permission
        await in_thread(functools.partial(
            audit.record, db=db, actor=actor, action="denied", record_type="Route",
            record_id=request.url.path[:64],
            detail=f"{request.method} {request.url.path} needs {need}"))
        raise Forbidden(
            f"The token's scopes ({' '.join(sorted(actor.scopes or ()))}) do not open "
            f"{request.method} {request.url.path}." if scoped_out else
            f"Your role ({actor.role}) may not do this ({permission})."
        ).keeping_changes()
    request.state.actor = actor
    return actor


@cache
def require(permission: Permission) -> Callable[..., Awaitable[Actor]]:
    """A dependency that lets the request through only for roles the permission table allows."""

    async def dependency(request: Request, db: Session = DB) -> Actor:
        return await permitted(request, db, permission)

    dependency.required_permission = permission  # type: ignore[attr-defined]
    return dependency


@cache
def _lookup_dependency(lookup: Callable[[Session, str, Actor], object], permission: Permission,
                       param: str) -> Callable[..., object]:
    def dependency(request: Request, actor: Actor = Depends(require(permission)),
                   db: Session = DB) -> object:
        return lookup(db, request.path_params[param], actor)

    return dependency


def found_by(lookup: Callable[[Session, str, Actor], object], permission: Permission,
             param: str) -> Any:
    """A dependency that loads the record a path parameter names, within the caller's reach
    (the lookup answers 404 otherwise), after the permission gate: handlers never load it by
    hand. Declared once per record kind, e.g. `APPOINTMENT = found_by(appointment_of, ...)`."""
    return Depends(_lookup_dependency(lookup, permission, param))


async def request_body(request: Request) -> bytes:
    """The raw request body, read before the (plain, threaded) handler runs."""
    return await request.body()


# A handler that reads a JSON or FHIR body takes it as `body: bytes = BODY` and stays a plain
# `def`, so its database work runs in the thread pool rather than on the event loop.
BODY: Any = Depends(request_body)
