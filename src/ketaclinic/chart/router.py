"""JSON API for the patient registry under /api/v1/patients."""

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ketaclinic.flows import demographics
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import schemas
from ketaclinic.patients import service as patients
from ketaclinic.patients.models import Patient
from ketaclinic.web.deps import DB, require
from ketaclinic.web.one_thread import OneTripRoute
from ketaclinic.wire_types import IsoDate

router = APIRouter(route_class=OneTripRoute, prefix="/api/v1/patients", tags=["patients"])
# Entries per page of a chart list unless the client asks for fewer or more (up to PAGE_MAX).
PAGE_DEFAULT, PAGE_MAX = 100, 500


def patient_out(patient: Patient | patients.Demographics) -> schemas.PatientOut:
    """The API shape of a patient's demographics."""
    shown = patient if isinstance(patient, patients.Demographics) else patients.Demographics.of(
        patient)
    return schemas.PatientOut(id=shown.id, **shown.fields, mrns=[
        schemas.MrnOut(site=site, mrn=mrn) for site, mrn in shown.mrns])


@router.get("", response_model=list[schemas.PatientOut])
def search_patients(
    q: str = Query(default="", max_length=200, description="words of the name, or an MRN"),
    birth_date: IsoDate | None = Query(default=None),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    actor: Actor = Depends(require(Permission.PATIENT_SEARCH)),
    db: Session = DB,
) -> list[schemas.PatientOut]:
    """Search patients at your sites by name, MRN or birth date."""
    found = patients.search(db=db, actor=actor, text=q, birth_date=birth_date, limit=limit,
                            offset=offset)
    return [patient_out(p) for p in found]


@router.post("", response_model=schemas.PatientOut, status_code=201)
def register_patient(
    data: schemas.PatientIn,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
    db: Session = DB,
) -> schemas.PatientOut:
    """Register a new patient at one of your sites."""
    patient = patients.register(db=db, data=data, actor=actor)
    return patient_out(patient)


@router.get("/{patient_id}", response_model=schemas.PatientOut)
def read_patient(
    patient_id: str,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_READ)),
    db: Session = DB,
) -> schemas.PatientOut:
    """A patient's demographics and contact details."""
    return patient_out(patients.open_demographics(db=db, patient_id=patient_id, actor=actor,
                                                  purpose="demographics"))


@router.patch("/{patient_id}", response_model=schemas.PatientOut)
def edit_patient(
    patient_id: str,
    data: schemas.PatientUpdate,
    actor: Actor = Depends(require(Permission.DEMOGRAPHICS_WRITE)),
    db: Session = DB,
) -> schemas.PatientOut:
    """Change a patient's demographics or contact details (a death recorded cancels the
    appointments booked ahead)."""
    patient = demographics.update_demographics(db=db, patient_id=patient_id, data=data, actor=actor)
    return patient_out(patient)


def _add_entry_routes(kind: str, in_schema: type[BaseModel], out_schema: type[BaseModel]) -> None:
    label = {"vitals": "vital signs", "allergies": "allergy",
             "status-observations": "pregnancy or breastfeeding observation"
             }.get(kind, kind.rstrip("s"))

    def list_entries(
        request: Request,
        response: Response,
        patient_id: str,
        limit: int = Query(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX,
                           description="entries on this page, newest first"),
        before: str | None = Query(default=None, max_length=200,
                                   description="where the page starts: the cursor in the "
                                               "previous page's Link header (rel=next)"),
        actor: Actor = Depends(require(Permission.CLINICAL_READ)),
        db: Session = DB,
    ) -> list[Any]:
        page = patients.page_entries(db=db, patient_id=patient_id, kind=kind, actor=actor,
                                     limit=limit, before=before)
        response.headers["X-Total-Count"] = str(page.total)
        if page.next_cursor:
            older = request.url.include_query_params(limit=limit, before=page.next_cursor)
            response.headers["Link"] = f'<{older}>; rel="next"'
        return [out_schema.model_validate(e) for e in page.entries]

    def add_entry(
        patient_id: str,
        data: in_schema,  # type: ignore[valid-type]
        actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
        db: Session = DB,
    ) -> Any:
        entry = patients.add_entry(db=db, patient_id=patient_id, kind=kind, data=data,
                                   actor=actor)
        return out_schema.model_validate(entry)

    def mark_error(
        patient_id: str,
        entry_id: str,
        data: schemas.EnteredInErrorIn,
        actor: Actor = Depends(require(Permission.CLINICAL_WRITE)),
        db: Session = DB,
    ) -> Any:
        entry = patients.mark_entered_in_error(db=db, patient_id=patient_id, kind=kind,
                                               entry_id=entry_id, reason=data.reason,
                                               actor=actor)
        return out_schema.model_validate(entry)

    router.add_api_route(f"/{{patient_id}}/{kind}", list_entries, methods=["GET"],
                         response_model=list[out_schema],  # type: ignore[valid-type]
                         summary=f"List {kind}",
                         description=f"The {label} entries on the chart, newest first, a page "
                                     "at a time: the total is in `X-Total-Count` and the next "
                                     "(older) page in `Link` (rel=next).")
    router.add_api_route(f"/{{patient_id}}/{kind}", add_entry, methods=["POST"],
                         status_code=201, response_model=out_schema,
                         summary=f"Record a {label}", description=f"Record a {label}.")
    router.add_api_route(f"/{{patient_id}}/{kind}/{{entry_id}}/entered-in-error", mark_error,
                         methods=["POST"], response_model=out_schema,
                         summary=f"Mark a {label} entered-in-error",
                         description="Corrections keep the row and record who, when and why.")


_add_entry_routes("conditions", schemas.ConditionIn, schemas.ConditionOut)
_add_entry_routes("medications", schemas.MedicationIn, schemas.MedicationOut)
_add_entry_routes("allergies", schemas.AllergyIn, schemas.AllergyOut)
_add_entry_routes("vitals", schemas.VitalsIn, schemas.VitalsOut)
_add_entry_routes("status-observations", schemas.StatusObservationIn,
                  schemas.StatusObservationOut)
