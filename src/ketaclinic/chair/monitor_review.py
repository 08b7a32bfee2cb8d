"""The review of rejected and unmatched monitor messages: a page for the nurses' station and the
same list and actions on the API."""

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from ketaclinic.clinics import service as clinics
from ketaclinic.errors import Conflict, Forbidden, InvalidInput, NotFound, invalid
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.treatments import monitor_review as review
from ketaclinic.treatments import schemas
from ketaclinic.treatments.models import MonitorMessage
from ketaclinic.web.csrf import check_csrf
from ketaclinic.web.deps import DB, require
from ketaclinic.web.forms import FORM, form_action, validate
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.web.templating import render

router = APIRouter(route_class=OneTripRoute)
PAGE_DEFAULT, PAGE_MAX = 50, 200


def _day(value: str, field: str, zone: str, *, end: bool = False) -> datetime | None:
    """A YYYY-MM-DD in the user's zone as the moment it starts (or, for an end, the next)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"{value!r} is not a date", "YYYY-MM-DD") from None
    return datetime.combine(day + timedelta(days=1 if end else 0), time.min, tzinfo=ZoneInfo(zone))


def _cursor(value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise invalid("before", f"{value!r} is not a cursor from a Link header",
                      "the cursor of the previous page's Link (rel=next)")
    return int(value)


def _out(row: review.MessageRow) -> schemas.MonitorMessageOut:
    m = row.message
    return schemas.MonitorMessageOut(
        id=m.id, received_at=m.received_at, peer=m.peer, control_id=m.control_id,
        status=m.status, ack_code=m.ack_code, reason=m.reason, site=row.site_code,
        chair=row.chair_name, readings=row.readings, reviewed_at=m.reviewed_at,
        reviewed_by=m.reviewed_by, review_note=m.review_note, raw=m.raw)


@router.get("/api/v1/monitor-messages", response_model=list[schemas.MonitorMessageOut],
            tags=["Monitor messages"])
def list_messages(
    request: Request, response: Response,
    site: str = Query(default="", max_length=20, description="a site code of yours"),
    chair: str = Query(default="", max_length=36, description="the id of a chair of your sites"),
    status: str = Query(default="", max_length=20,
                        description="rejected, unmatched, partial or attached (all)"),
    shown: str = Query(default="open", max_length=10,
                       description="open (not reviewed), reviewed or all"),
    since: str = Query(default="", max_length=10, description="received on or after (YYYY-MM-DD)"),
    until: str = Query(default="", max_length=10, description="received on or before (YYYY-MM-DD)"),
    limit: int = Query(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX),
    before: str | None = Query(default=None, max_length=20,
                               description="the cursor in the previous page's Link (rel=next)"),
    actor: Actor = Depends(require(Permission.CLINICAL_WRITE)), db: Session = DB,
) -> list[schemas.MonitorMessageOut]:
    """Rejected, unmatched and partial monitor messages of your sites, newest first, a page at a time
    (total in `X-Total-Count`, the next page in `Link`)."""
    page = review.review_list(
        db=db, actor=actor, site_code=site, chair_id=chair, status=status, shown=shown,
        since=_day(since, "since", actor.time_zone),
        until=_day(until, "until", actor.time_zone, end=True), limit=limit,
        before=_cursor(before))
    response.headers["X-Total-Count"] = str(page.total)
    if page.newest:
        response.headers["X-Review-Through"] = page.newest
    if page.next_before:
        older = request.url.include_query_params(limit=limit, before=page.next_before)
        response.headers["Link"] = f'<{older}>; rel="next"'
    return [_out(row) for row in page.rows]


def _review_all(db: Session, actor: Actor, data: schemas.ReviewAllIn) -> int:
    return review.review_all(
        db=db, actor=actor, note=data.note, through=int(data.through), site_code=data.site,
        chair_id=data.chair, status=data.status, since=_day(data.since, "since", actor.time_zone),
        until=_day(data.until, "until", actor.time_zone, end=True))


@router.post("/api/v1/monitor-messages/review", response_model=schemas.ReviewedOut,
             tags=["Monitor messages"])
def review_all_messages(data: schemas.ReviewAllIn,
                        actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                        db: Session = DB) -> schemas.ReviewedOut:
    """Close as reviewed, with one note, every message not yet reviewed that the list gives for
    these filters, up to `through` (a message that came in since is left for a look)."""
    return schemas.ReviewedOut(reviewed=_review_all(db, actor, data))


@router.post("/api/v1/monitor-messages/{message_id}/attach",
             response_model=schemas.MonitorMessageOut, tags=["Monitor messages"])
def attach_message(message_id: str, data: schemas.AttachIn,
                   actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                   db: Session = DB) -> schemas.MonitorMessageOut:
    """Put an unmatched message's readings on an open session of its site (alarms follow)."""
    message, moved, _ = review.attach(db=db, actor=actor, message_id=message_id,
                                      treatment_session_id=str(data.treatment_session_id))
    return _out(review.MessageRow(message, None, None, moved))


@router.post("/api/v1/monitor-messages/{message_id}/review",
             response_model=schemas.MonitorMessageOut, tags=["Monitor messages"])
def review_message(message_id: str, data: schemas.ReviewIn,
                   actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                   db: Session = DB) -> schemas.MonitorMessageOut:
    """Close a rejected or unmatched message as reviewed, with what was done."""
    message = review.mark_reviewed(db=db, actor=actor, message_id=message_id, note=data.note)
    return _out(review.MessageRow(message, None, None, 0))


def _page(request: Request, db: Session, actor: Actor, errors: list[str] | None = None,
          status_code: int = 200) -> HTMLResponse:
    query = request.query_params
    filters = {k: query.get(k, "") for k in ("site", "chair", "status", "shown", "since", "until")}
    filters["shown"] = filters["shown"] or "open"
    errors = list(errors or [])
    page = None
    try:
        page = review.review_list(
            db=db, actor=actor, site_code=filters["site"], chair_id=filters["chair"],
            status=filters["status"],
            shown=filters["shown"], since=_day(filters["since"], "since", actor.time_zone),
            until=_day(filters["until"], "until", actor.time_zone, end=True),
            before=_cursor(query.get("before")))
    except InvalidInput as exc:
        errors += [p.text() for p in exc.problems]
        status_code = 422
    sessions = {row.message.pk: review.sessions_to_attach(db, row.message)
                for row in (page.rows if page else []) if row.message.status == "unmatched"
                and row.message.reviewed_at is None}
    return render(request, "treatments/monitor_messages.html", status_code=status_code,
                  page=page, filters=filters, errors=errors, sessions=sessions,
                  sites=list(clinics.sites_of(db=db, actor=actor)),
                  chairs=review.chairs_of(db, actor),
                  statuses=review.LISTED, shown_choices=review.SHOWN, tz=actor.time_zone)


@router.get("/monitor-messages", response_class=HTMLResponse, include_in_schema=False)
def messages_page(request: Request, actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                  db: Session = DB) -> HTMLResponse:
    """Rejected, unmatched and partial monitor messages of the user's sites, with their
    actions."""
    return _page(request, db, actor)


def _act_on(request: Request, db: Session, actor: Actor, message_id: str,
            action: Callable[[MonitorMessage], object]) -> Response:
    """Run a review action posted from the page: another site's message is not found whatever
    the form says; back to the list, or the list again with the reason and nothing changed."""
    return form_action(db, lambda: action(review.message_of(db, actor, message_id)),
                       done="/monitor-messages",
                       again=lambda errors, status: _page(request, db, actor, errors, status),
                       refusals=(InvalidInput, Conflict, Forbidden, NotFound))


@router.post("/monitor-messages/{message_id}/attach", include_in_schema=False,
             dependencies=[Depends(check_csrf)])
def attach_page(request: Request, message_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)), db: Session = DB,
                form: FormData = FORM) -> Response:
    """Attach from the review page to the session chosen."""
    def attach(_: MonitorMessage) -> object:
        data = validate(schemas.AttachIn, {"treatment_session_id": form.get(
            "treatment_session_id", "")})
        return review.attach(db=db, actor=actor, message_id=message_id,
                             treatment_session_id=str(data.treatment_session_id))
    return _act_on(request, db, actor, message_id, attach)


@router.post("/monitor-messages/{message_id}/review", include_in_schema=False,
             dependencies=[Depends(check_csrf)])
def review_page(request: Request, message_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_WRITE)), db: Session = DB,
                form: FormData = FORM) -> Response:
    """Mark reviewed from the review page, with the note."""
    def mark(_: MonitorMessage) -> object:
        data = validate(schemas.ReviewIn, {"note": form.get("note", "")})
        return review.mark_reviewed(db=db, actor=actor, message_id=message_id, note=data.note)
    return _act_on(request, db, actor, message_id, mark)


@router.post("/monitor-messages/review", include_in_schema=False, dependencies=[Depends(check_csrf)])
def review_all_page(request: Request, actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
                    db: Session = DB, form: FormData = FORM) -> Response:
    """Mark every message the list showed reviewed, with one note; back to the same list."""
    fields = ("site", "chair", "status", "since", "until")
    data: dict[str, object] = {name: str(form.get(name, ""))
                               for name in (*fields, "note", "through")}
    back = "/monitor-messages?" + urlencode({name: data[name] for name in fields})
    return form_action(db, lambda: _review_all(db, actor, validate(schemas.ReviewAllIn, data)),
                       done=back, again=lambda errors, status: _page(request, db, actor, errors,
                                                                     status),
                       refusals=(InvalidInput, Conflict, Forbidden, NotFound))
