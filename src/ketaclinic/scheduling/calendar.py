"""iCalendar (RFC 5545): one appointment as an invitation, and secret feeds per staff member or
patient that can be revoked."""

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, time, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.auth.models import User
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.errors import NotFound
from ketaclinic.kernel.actor import Actor
from ketaclinic.knowledge import appointments as rules
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.availability import ACTIVE, zone_of
from ketaclinic.scheduling.models import Appointment, CalendarFeed, StaffAbsence, StaffShift
from ketaclinic.settings import get_settings

PRODID = "-//ketaclinic//appointments//EN"
FEED_DAYS_BACK = 30


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _event(appointment: Appointment, site: Site, chair: str | None, *, for_patient: bool,
           patient: Patient | None) -> Event:
    kind = rules.kind(appointment.kind)
    event = Event()
    event.add("uid", f"{appointment.id}@ketaclinic")
    event.add("dtstamp", clock.now())
    event.add("dtstart", appointment.starts_at)
    event.add("dtend", appointment.ends_at)
    event.add("location", site.address or site.name)
    if for_patient:
        event.add("summary", f"{kind.label} at {site.name}")
        if kind.chair:
            event.add("description", rules.reminder_rules().ride_home)
    else:
        who = f"{patient.given_name[:1]}. {patient.family_name}" if patient else "patient"
        event.add("summary", f"{kind.label}: {who}" + (f" ({chair})" if chair else ""))
    return event


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    return cal


def invitation(db: Session, appointment: Appointment) -> bytes:
    """One appointment as an .ics file for the patient."""
    site = db.get(Site, appointment.site_pk)
    assert site is not None
    cal = _calendar(site.name)
    cal.add("method", "PUBLISH")
    cal.add_component(_event(appointment, site, None, for_patient=True, patient=None))
    return bytes(cal.to_ical())


def create_feed(*, db: Session, actor: Actor, user: User | None = None,
                patient: Patient | None = None) -> tuple[CalendarFeed, str]:
    """A new secret feed URL (shown once)."""
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(token_hash=_hash(token), user_pk=user.pk if user else None,
                        patient_pk=patient.pk if patient else None, created_by=actor.username)
    db.add(feed)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="CalendarFeed",
                 record_id=feed.id, patient_id=patient.id if patient else None,
                 detail=f"calendar feed for {user.username if user else 'patient'}")
    return feed, f"{get_settings().public_url}/calendar/{token}.ics"


def revoke(*, db: Session, feed: CalendarFeed, actor: Actor) -> None:
    """Revoke a feed: its URL answers 404 from now on."""
    if feed.revoked_at is None:
        feed.revoked_at = clock.now()
        db.flush()
        audit.record(db=db, actor=actor, action="revoke", record_type="CalendarFeed",
                     record_id=feed.id, detail="calendar feed revoked")


def feed_by_token(db: Session, token: str) -> CalendarFeed:
    """The live feed behind a token (NotFound for unknown or revoked)."""
    feed = db.execute(select(CalendarFeed).where(CalendarFeed.token_hash == _hash(token))
                      ).scalar_one_or_none()
    if feed is None or feed.revoked_at is not None:
        raise NotFound("no such calendar")
    return feed


def render_feed(db: Session, feed: CalendarFeed) -> bytes:
    """The feed's appointments from a month back onwards."""
    since = clock.now() - timedelta(days=FEED_DAYS_BACK)
    query = select(Appointment).where(Appointment.status.in_(ACTIVE),
                                      Appointment.ends_at >= since).order_by(Appointment.starts_at)
    if feed.patient_pk is not None:
        rows = db.execute(query.where(Appointment.patient_pk == feed.patient_pk)).scalars().all()
        cal = _calendar("My appointments")
        sites = _sites(db, rows)
        for a in rows:
            cal.add_component(_event(a, sites[a.site_pk], None, for_patient=True, patient=None))
        return bytes(cal.to_ical())
    user = db.get(User, feed.user_pk)
    assert user is not None
    rows = _staff_rows(db, user, db.execute(query).scalars().all())
    cal = _calendar(f"{user.display_name}: appointments")
    sites = _sites(db, rows)
    patients = {p.pk: p for p in db.execute(select(Patient).where(
        Patient.pk.in_({a.patient_pk for a in rows}))).scalars()} if rows else {}
    chairs = dict(db.execute(select(Chair.pk, Chair.name)).all())
    for a in rows:
        chair = chairs.get(a.chair_pk) if a.chair_pk else None
        cal.add_component(_event(a, sites[a.site_pk], chair, for_patient=False,
                                 patient=patients.get(a.patient_pk)))
    return bytes(cal.to_ical())


def _sites(db: Session, rows: Sequence[Appointment]) -> dict[int, Site]:
    return {s.pk: s for s in db.execute(select(Site).where(
        Site.pk.in_({a.site_pk for a in rows}))).scalars()} if rows else {}


def _staff_rows(db: Session, user: User, rows: Sequence[Appointment]) -> list[Appointment]:
    """The appointments a staff member works: at their sites, within their shifts, not on their
    days away; a prescriber's are those that need one on site, a nurse's those in a chair."""
    shifts = db.execute(select(StaffShift).where(StaffShift.user_pk == user.pk)).scalars().all()
    away = set(db.execute(select(StaffAbsence.day).where(StaffAbsence.user_pk == user.pk)
                          ).scalars())
    sites = _sites(db, rows)
    mine = []
    for a in rows:
        kind = rules.kind(a.kind)
        if user.role == "prescriber" and not kind.prescriber_on_site:
            continue
        if user.role == "nurse" and not kind.chair:
            continue
        local_start = a.starts_at.astimezone(zone_of(sites[a.site_pk]))
        local_end = a.ends_at.astimezone(zone_of(sites[a.site_pk]))
        if local_start.date() in away:
            continue
        if any(s.site_pk == a.site_pk and s.weekday == local_start.weekday()
               and _within(s.starts, s.ends, local_start, local_end) for s in shifts):
            mine.append(a)
    return mine


def _within(starts: time, ends: time, local_start: datetime, local_end: datetime) -> bool:
    return starts <= local_start.time() and local_end.time() <= ends
