"""A stored patient as the PatientRecord that screening reads."""

from ketaclinic.knowledge.frequency import times_per_day
from ketaclinic.knowledge.record import (
    AllergyFact,
    BloodPressure,
    Coding,
    ConditionFact,
    MedicationFact,
    ObservationFact,
    PatientRecord,
    Weight,
    dose_in_mg,
)
from ketaclinic.patients.models import (
    ENTERED_IN_ERROR,
    Allergy,
    Condition,
    Medication,
    Patient,
    StatusObservation,
)


def daily_dose_mg(medication: Medication) -> float | None:
    """The day's dose in milligrams, as screening reads it: a dose in a mass unit (or in tablets
    of the product its display names with their strength) times its frequency, or a dose the
    unit already gives a day of (an imported one's 'mg/day'); None when not readable."""
    if medication.dose_value is None:
        return None
    milligrams, daily = dose_in_mg(medication.dose_value, medication.dose_unit,
                                   medication.display)
    if milligrams is None or daily:
        return milligrams
    per_day = times_per_day(medication.frequency)
    return None if per_day is None else milligrams * per_day


def screening_record(patient: Patient) -> PatientRecord:
    """The patient's chart (entered-in-error rows left out) as screening input."""
    vitals = [v for v in patient.vitals if v.status != ENTERED_IN_ERROR]
    return PatientRecord(
        ref=f"Patient/{patient.id}",
        birth_date=patient.birth_date,
        deceased=patient.deceased,
        conditions=tuple(
            ConditionFact(ref=f"Condition/{c.id}", codings=codings_of(c),
                          text=c.display, clinical_status=c.clinical_status,
                          verification_status=c.verification_status, onset=c.onset_date,
                          abatement=c.abatement_date)
            for c in patient.conditions),
        medications=tuple(
            MedicationFact(ref=f"Medication/{m.id}", codings=codings_of(m),
                           text=m.display, status=m.status, start=m.start_date, end=m.end_date,
                           daily_dose_mg=daily_dose_mg(m))
            for m in patient.medications),
        allergies=tuple(
            AllergyFact(ref=f"Allergy/{a.id}", codings=codings_of(a),
                        text=a.display, clinical_status=a.clinical_status,
                        verification_status=a.verification_status, kind=a.kind,
                        criticality=a.criticality)
            for a in patient.allergies),
        blood_pressures=tuple(
            BloodPressure(f"VitalSigns/{v.id}", v.measured_at, v.systolic_mmhg, v.diastolic_mmhg)
            for v in vitals if v.systolic_mmhg is not None or v.diastolic_mmhg is not None),
        weights=tuple(Weight(f"VitalSigns/{v.id}", v.measured_at, v.weight_kg)
                      for v in vitals if v.weight_kg is not None),
        observations=tuple(observation_fact(o) for o in patient.status_observations
                           if o.status != ENTERED_IN_ERROR),
    )


def codings_of(entry: Condition | Medication | Allergy) -> tuple[Coding, ...]:
    """An entry's code and the other codings it was sent with."""
    return (Coding(entry.system, entry.code, entry.display),
            *(Coding(c["system"], c["code"], c.get("display", "")) for c in entry.other_codings or []))


def observation_fact(observation: StatusObservation) -> ObservationFact:
    """A charted pregnancy or breastfeeding observation as screening reads it."""
    value = (Coding(observation.value_system, observation.value_code, observation.value_display),)
    return ObservationFact(
        ref=f"StatusObservation/{observation.id}", taken=observation.taken_at,
        codes=(Coding(observation.system, observation.code, observation.display),),
        value_codes=value if observation.value_code else (), value_text=observation.value_text,
        value_boolean=observation.value_boolean)
