"""A bedside monitor's PCD-01 message taken in: kept as received, routed to its chair by device or
location, its readings stored on the chair's open treatment session (or kept unmatched for the
nurse to attach) with the alarms they raise."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic import clock
from ketaclinic.audit import service as audit
from ketaclinic.clinics.models import Chair, Site
from ketaclinic.integrations import pcd01
from ketaclinic.kernel.actor import Actor
from ketaclinic.patients.service import FUTURE_TOLERANCE
from ketaclinic.treatments import service as treatments
from ketaclinic.treatments.models import MonitorMessage


def _chair_for(db: Session, message: pcd01.MonitorMessage) -> Chair | None:
    for device in message.devices:
        chair = db.execute(select(Chair).where(Chair.monitor_device_id == device)).scalar_one_or_none()
        if chair is not None:
            return chair
    site_code, _, rest = message.location.partition("^")
    chair_name = rest.split("^")[0]
    if site_code and chair_name:
        return db.execute(select(Chair).join(Site).where(Site.code == site_code,
                                                         Chair.name == chair_name)
                          ).scalar_one_or_none()
    return None


def ingest(*, db: Session, raw: str, peer: str) -> tuple[str, str, str]:
    """Keep the message, store its readings on the chair's open session (or as unmatched).

    Returns (ack code, reason, control id); the caller commits, then acknowledges.
    """
    actor = Actor(username=f"monitor:{peer}"[:150], role="system", client=peer[:100])
    inbox = MonitorMessage(received_at=clock.now(), peer=peer[:100], raw=raw, status="rejected",
                           ack_code="AR", created_by=actor.username)
    db.add(inbox)
    try:
        message = pcd01.parse_oru(raw)
        inbox.control_id = message.control_id[:100]
        earlier = db.execute(select(MonitorMessage.pk).where(
            MonitorMessage.control_id == inbox.control_id, MonitorMessage.peer == inbox.peer,
            MonitorMessage.ack_code == "AA")).first()
        if earlier:
            inbox.status, inbox.ack_code, inbox.reason = "duplicate", "AA", "already stored"
            return "AA", "", message.control_id
        chair = _chair_for(db, message)
        if chair is None:
            raise pcd01.MessageRejected("AE", f"unroutable: no chair for device "
                                        f"{', '.join(message.devices) or '(none)'} or location "
                                        f"{message.location or '(none)'}", message.control_id)
        site_tz = db.execute(select(Site.time_zone).where(Site.pk == chair.site_pk)).scalar_one()
        message = pcd01.parse_oru(raw, default_tz=site_tz)
        too_late = [r for r in message.readings if r.taken > clock.now() + FUTURE_TOLERANCE]
        if too_late:
            raise pcd01.MessageRejected("AE", f"OBX {too_late[0].obx}: the observation time is in "
                                        "the future", message.control_id)
    except pcd01.MessageRejected as exc:
        inbox.control_id = exc.control_id[:100]
        inbox.ack_code, inbox.reason = exc.code, exc.reason[:1000]
        db.flush()
        return exc.code, exc.reason, exc.control_id
    db.flush()
    treatment_session = treatments.treatment_session_at_chair(db=db, chair_pk=chair.pk)
    rows = [{"taken_at": r.taken, **{f: getattr(r, f) for f in treatments.VITAL_FIELDS}}
            for r in message.as_readings()]
    stored, raised = treatments.store_readings(db=db, treatment_session=treatment_session, chair_pk=chair.pk,
                                               rows=rows,
                                    source="monitor", actor=actor,
                                    device=(message.devices or [""])[0][:64], message_pk=inbox.pk)
    inbox.status = "accepted" if treatment_session else "unmatched"
    inbox.ack_code = "AA"
    if treatment_session is not None:
        audit.record(db=db, actor=actor, action="create", record_type="SessionReading",
                     record_id=treatment_session.id,
                     patient_id=treatments.patient_id_of(db, treatment_session),
                     detail=f"monitor message {message.control_id}: {stored} readings, "
                            f"{len(raised)} alarms")
    db.flush()
    return "AA", "", message.control_id
