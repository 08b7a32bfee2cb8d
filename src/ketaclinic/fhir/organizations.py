"""The clinic's sites as FHIR Organizations and their chairs as Locations, and the site a
Patient's `managingOrganization` names."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ketaclinic.clinics.models import Chair, Site
from ketaclinic.errors import FieldProblem, InvalidInput, NotFound
from ketaclinic.fhir.mapping import SITE_SYSTEM
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients import service as patients

CHAIR_SYSTEM = "https://ketaclinic.org/chair"
ORGANIZATION_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                                 "code": "prov", "display": "Healthcare Provider"}]}
CHAIR_PHYSICAL_TYPE = {"coding": [{
    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
    "code": "bd", "display": "Bed"}], "text": "Treatment chair"}
SEARCH_PARAMS = {
    "Organization": {"identifier": "token", "name": "string"},
    "Location": {"identifier": "token", "name": "string", "organization": "reference"},
}


def _meta(row: Site | Chair) -> dict[str, Any]:
    return {"lastUpdated": row.updated_at.isoformat()}


def organization(site: Site) -> dict[str, Any]:
    """A site as an Organization, identified by its code."""
    resource: dict[str, Any] = {
        "resourceType": "Organization", "id": str(site.id), "meta": _meta(site), "active": True,
        "identifier": [{"system": SITE_SYSTEM, "value": site.code}],
        "type": [ORGANIZATION_TYPE], "name": site.name,
    }
    if site.address:
        resource["address"] = [{"text": site.address}]
    return resource


def location(chair: Chair, site: Site) -> dict[str, Any]:
    """A treatment chair as a Location managed by its site's Organization."""
    return {
        "resourceType": "Location", "id": str(chair.id), "meta": _meta(chair),
        "status": "active" if chair.active else "inactive", "mode": "instance",
        "identifier": [{"system": f"{CHAIR_SYSTEM}/{site.code}", "value": chair.name}],
        "name": f"{site.name}: {chair.name}", "physicalType": CHAIR_PHYSICAL_TYPE,
        "managingOrganization": {"reference": f"Organization/{site.id}", "display": site.name},
    }


def visible_site_pks(db: Session, actor: Actor) -> frozenset[int]:
    """The sites an actor may see: staff and clients their own, a patient those they are
    registered at."""
    if actor.is_patient:
        return frozenset(patients.own_record(db, actor).site_pks)
    return actor.site_pks


def _sites(db: Session, actor: Actor) -> Sequence[Site]:
    return db.execute(select(Site).where(Site.pk.in_(visible_site_pks(db, actor)))
                      .options(selectinload(Site.chairs)).order_by(Site.code)).scalars().all()


def _token_matches(value: str, system: str, code: str) -> bool:
    if "|" not in value:
        return value == code
    wanted_system, _, wanted_code = value.partition("|")
    return wanted_system == system and (not wanted_code or wanted_code == code)


def _one_of(values: list[str], test: Any) -> bool:
    # repeated parameters are ANDed, commas within one ORed (FHIR search)
    return all(any(test(v) for v in value.split(",")) for value in values)


def _site_matches(site: Site, params: dict[str, list[str]]) -> bool:
    return (_one_of(params.get("_id", []), lambda v: v == str(site.id))
            and _one_of(params.get("identifier", []),
                        lambda v: _token_matches(v, SITE_SYSTEM, site.code))
            and _one_of(params.get("name", []), lambda v: v.lower() in site.name.lower()))


def _chair_matches(chair: Chair, site: Site, params: dict[str, list[str]]) -> bool:
    return (_one_of(params.get("_id", []), lambda v: v == str(chair.id))
            and _one_of(params.get("identifier", []),
                        lambda v: _token_matches(v, f"{CHAIR_SYSTEM}/{site.code}", chair.name))
            and _one_of(params.get("name", []),
                        lambda v: v.lower() in f"{site.name}: {chair.name}".lower())
            and _one_of(params.get("organization", []),
                        lambda v: v.removeprefix("Organization/") == str(site.id)))


def search(db: Session, actor: Actor, resource_type: str,
           params: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Organizations or Locations of the actor's sites matching the parameters (a network has
    a handful of sites and chairs: filtered here rather than in SQL)."""
    found: list[dict[str, Any]] = []
    for site in _sites(db, actor):
        if resource_type == "Organization":
            found += [organization(site)] if _site_matches(site, params) else []
        else:
            found += [location(chair, site) for chair in site.chairs
                      if _chair_matches(chair, site, params)]
    return found


def read(db: Session, actor: Actor, resource_type: str, resource_id: str) -> dict[str, Any]:
    """One Organization or Location of the actor's sites; NotFound otherwise."""
    found = search(db, actor, resource_type, {"_id": [resource_id]})
    if not found:
        raise NotFound(f"{resource_type}/{resource_id} is not known here")
    return found[0]


def _named_site(db: Session, value: object) -> tuple[bool, Site | None]:
    """Whether a reference names one of this clinic's sites (by the id of a site's Organization,
    or by the site identifier system), and which site that is if there is one."""
    if not isinstance(value, dict):
        return False, None
    reference = str(value.get("reference") or "")
    if reference.startswith("Organization/"):
        try:
            key = uuid.UUID(reference.removeprefix("Organization/"))
        except ValueError:
            return False, None
        site = db.execute(select(Site).where(Site.id == key)).scalar_one_or_none()
        return site is not None, site
    identifier = value.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") == SITE_SYSTEM:
        return True, db.execute(select(Site).where(Site.code == str(identifier.get("value"))
                                                   )).scalar_one_or_none()
    return False, None


def managing_site(db: Session, actor: Actor, resource: dict[str, Any], default: str) -> str:
    """The code of the site a Patient is registered at: the one its `managingOrganization`
    names (`Organization/<id>` of a site, or the site identifier), else `default` (the sending
    system's own organization is not a site here); InvalidInput naming
    `Patient.managingOrganization` when it names a site that is not the actor's, or names none
    and the actor works at several sites without saying which."""
    ours, site = _named_site(db, resource.get("managingOrganization"))
    if not ours and default:
        return default
    if site is not None and site.pk in actor.site_pks:
        return site.code
    mine = db.execute(select(Site).where(Site.pk.in_(actor.site_pks)).order_by(Site.code)
                      ).scalars().all()
    accepted = ("a reference to one of your sites' Organizations: " + ", ".join(
        f"Organization/{s.id} or identifier {SITE_SYSTEM}|{s.code}" for s in mine)
        + "; or ?site=<code> for every patient of the request")
    message = ("is not one of your sites" if ours else
               "you work at several sites: say which the patient is registered at")
    raise InvalidInput([FieldProblem("Patient.managingOrganization", message, accepted)])
