"""JSON API for a patient's courses (read only: a course is started by signing an evaluation and
moved on by the dose and the end-of-induction review)."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ketaclinic.courses import schemas
from ketaclinic.courses import service as courses
from ketaclinic.courses.models import Course
from ketaclinic.kernel.actor import Actor
from ketaclinic.kernel.permissions import Permission
from ketaclinic.patients import service as patients
from ketaclinic.web.deps import DB, require
from ketaclinic.web.one_thread import OneTripRoute

router = APIRouter(route_class=OneTripRoute, prefix="/api/v1", tags=["courses"])


def course_out(course: Course) -> schemas.CourseOut:
    """A course on the wire."""
    return schemas.CourseOut(
        id=course.id, route=course.route, indication=course.indication,
        prescriber=course.prescriber, signed_at=course.signed_at, state=course.state,
        dose=courses.dose_data(course), plan=courses.plan_data(course),
        transitions=[schemas.TransitionOut(from_state=t.from_state, to_state=t.to_state, at=t.at,
                                           reason=t.reason, by=t.created_by)
                     for t in course.transitions])


@router.get("/patients/{patient_id}/courses", response_model=list[schemas.CourseOut])
def list_courses(patient_id: str, actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                 db: Session = DB) -> list[schemas.CourseOut]:
    """The patient's courses, newest first."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="courses")
    return [course_out(c) for c in courses.courses_of(db, patient.pk)]


@router.get("/patients/{patient_id}/courses/{course_id}", response_model=schemas.CourseOut)
def read_course(patient_id: str, course_id: str,
                actor: Actor = Depends(require(Permission.CLINICAL_READ)),
                db: Session = DB) -> schemas.CourseOut:
    """One course (its id is the id of the evaluation that started it)."""
    patient = patients.open_patient(db=db, patient_id=patient_id, actor=actor, purpose="course")
    return course_out(courses.of_patient(db, patient.pk, course_id))
