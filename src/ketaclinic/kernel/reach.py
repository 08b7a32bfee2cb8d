"""Which patient records an actor can reach: staff by shared site, a patient only their own."""

from ketaclinic.kernel.actor import Actor


def can_reach_patient(actor: Actor, *, patient_pk: int, patient_site_pks: set[int]) -> bool:
    """Whether the actor may open this patient's record at all (role checks come first)."""
    if actor.role == "system":
        return True
    if actor.is_patient or actor.patient_context_pk is not None:
        return actor.confined_to == patient_pk
    return bool(actor.site_pks & patient_site_pks) or patient_pk in actor.emergency_patient_pks
