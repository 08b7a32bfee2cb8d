"""Creating and looking up the clinic network's sites."""

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import Chair, Network, Site
from ketaclinic.errors import Conflict, FieldProblem, InvalidInput, NotFound
from ketaclinic.kernel.actor import Actor

SITE_CODE = re.compile(r"^[A-Z0-9]{1,8}$")
MAX_CHAIRS = 100


def sites_of(*, db: Session, actor: Actor) -> Sequence[Site]:
    """The sites the actor works at, by name."""
    return db.execute(
        select(Site).where(Site.pk.in_(actor.site_pks)).order_by(Site.name)
    ).scalars().all()


def home_zone(*, db: Session, actor: Actor) -> str:
    """The time zone a person's dates are read in: their first site's, else the network's first."""
    query = select(Site.time_zone).order_by(Site.code).limit(1)
    zone = db.execute(query.where(Site.pk.in_(actor.site_pks))).scalar_one_or_none() \
        if actor.site_pks else None
    return zone or db.execute(query).scalar_one_or_none() or "UTC"


def all_sites(*, db: Session) -> Sequence[Site]:
    """Every site with its chairs, by code."""
    return db.execute(select(Site).options(selectinload(Site.chairs)).order_by(Site.code)
                      ).scalars().all()


def create_site(*, db: Session, code: str, name: str, address: str, time_zone: str, chairs: int,
                network_name: str, actor: Actor) -> Site:
    """Add a site (and the network, the first time) with numbered chairs."""
    problems = []
    if not SITE_CODE.match(code):
        problems.append(FieldProblem("code", f"{code!r} is not a site code", "1 to 8 of A-Z, 0-9"))
    if not name.strip():
        problems.append(FieldProblem("name", "is required", "a non-empty name"))
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(FieldProblem("time_zone", f"unknown time zone {time_zone!r}",
                                     "an IANA name such as America/New_York"))
    if not 0 <= chairs <= MAX_CHAIRS:
        problems.append(FieldProblem("chairs", f"{chairs} chairs", f"0 to {MAX_CHAIRS}"))
    if problems:
        raise InvalidInput(problems)
    if db.execute(select(Site.pk).where(Site.code == code)).first():
        raise Conflict(f"a site with code {code} already exists")
    network = db.execute(select(Network).order_by(Network.pk).limit(1)).scalar_one_or_none()
    if network is None:
        network = Network(name=network_name.strip() or name.strip(), created_by=actor.username)
        db.add(network)
    site = Site(network=network, code=code, name=name.strip(), address=address.strip(),
                time_zone=time_zone, created_by=actor.username,
                chairs=[Chair(name=f"Chair {n}", created_by=actor.username)
                        for n in range(1, chairs + 1)])
    db.add(site)
    db.flush()
    audit.record(db=db, actor=actor, action="create", record_type="Site", record_id=site.id,
                 detail=f"{code} {time_zone} chairs={chairs}")
    return site


def set_chair_monitor(*, db: Session, site_code: str, chair_name: str, device_id: str,
                      actor: Actor) -> Chair:
    """Tell the monitor feed which chair a bedside monitor (its OBX-18 device id) stands at."""
    chair = db.execute(select(Chair).join(Site).where(Site.code == site_code,
                                                      Chair.name == chair_name)
                       ).scalar_one_or_none()
    if chair is None:
        names = ", ".join(db.execute(select(Chair.name).join(Site).where(Site.code == site_code)
                                     .order_by(Chair.name)).scalars()) or "none"
        raise InvalidInput([FieldProblem("chair", f"no chair {chair_name!r} at {site_code!r}",
                                         names)])
    device = device_id.strip() or None
    taken = db.execute(select(Chair).where(Chair.monitor_device_id == device,
                                           Chair.pk != chair.pk)).scalar_one_or_none() if device else None
    if taken is not None:
        raise Conflict(f"device {device} is already mapped to {taken.name}")
    chair.monitor_device_id = device
    db.flush()
    audit.record(db=db, actor=actor, action="update", record_type="Chair", record_id=chair.id,
                 detail=f"monitor device {device or '(none)'}")
    return chair


def site_by_code(db: Session, code: str, actor: Actor) -> Site:
    """One of the actor's sites by its code, or InvalidInput naming the codes they may use."""
    site = db.execute(select(Site).where(Site.code == code.strip().upper())).scalar_one_or_none()
    if site is None or site.pk not in actor.site_pks:
        codes = db.execute(select(Site.code).where(Site.pk.in_(actor.site_pks))
                           .order_by(Site.code)).scalars().all()
        raise InvalidInput([FieldProblem("site", f"{code!r} is not one of your sites",
                                         ", ".join(codes))])
    return site


def site_in_reach(db: Session, code: str, actor: Actor) -> Site:
    """One of the actor's sites by its code (404 for another site or none)."""
    site = site_by_exact_code(db, code)
    if site is None or site.pk not in actor.site_pks:
        raise NotFound(f"no site {code!r} among yours")
    return site


def active_chairs(db: Session, site_pks: AbstractSet[int]) -> Sequence[Chair]:
    """The chairs in use at some sites, by name."""
    return db.execute(select(Chair).where(Chair.site_pk.in_(site_pks), Chair.active.is_(True))
                      .order_by(Chair.name)).scalars().all()


def chosen_site_code(db: Session, actor: Actor, site: str, who: str) -> str:
    """The site a write names, or the actor's only site; refused when it is not theirs or they
    work at several and named none (`who` names whose registration it is, for the message)."""
    codes = sorted(s.code for s in sites_of(db=db, actor=actor))
    chosen = site or (codes[0] if len(codes) == 1 else "")
    if chosen not in codes:
        raise InvalidInput([FieldProblem(
            "site", f"{site!r} is not one of your sites" if site else
            f"you work at several sites: say which {who} registered at", ", ".join(codes))])
    return chosen


def site_by_exact_code(db: Session, code: str) -> Site | None:
    """A site by its code exactly as written, if there is one."""
    return db.execute(select(Site).where(Site.code == code)).scalar_one_or_none()


def site_by_pk(db: Session, site_pk: int) -> Site:
    """A site by its key."""
    return db.execute(select(Site).where(Site.pk == site_pk)).scalar_one()
