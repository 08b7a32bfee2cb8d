"""Turning FHIR R4 resources (as dicts) into the PatientRecord that screening reads."""

import math
from datetime import date, datetime, timedelta
from typing import Any

from ketaclinic.fhir.bundle import resources, the_patient
from ketaclinic.fhir.dates import span_of
from ketaclinic.fhir.mapping import CONDITION_CATEGORIES, PRESSURE_FIELDS
from ketaclinic.knowledge.frequency import (
    days_a_week,
    times_per_day,
    times_per_day_from_timing,
)
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
from ketaclinic.knowledge.status_observations import watched_codes
from ketaclinic.knowledge.strength import (
    COUNT_UNITS,
    MILLIGRAMS_IN,
    ORAL_LIQUID,
    VOLUME_UNITS,
    concentration_mg_per_ml,
    strength_mg,
)
from ketaclinic.knowledge.vital_units import in_stored_unit, unit_as_sent

LOINC = "http://loinc.org"
BP_PANEL, SYSTOLIC, DIASTOLIC, BODY_WEIGHT = "85354-9", "8480-6", "8462-4", "29463-7"
NOT_A_READING = frozenset({"entered-in-error", "cancelled", "registered"})
REQUEST_STATUS = {"active": "active", "on-hold": "on-hold", "draft": "intended",
                  "unknown": "unknown", "completed": "completed", "stopped": "stopped",
                  "cancelled": "stopped", "entered-in-error": "entered-in-error"}


def parse_date(value: Any) -> date | None:
    """A FHIR date or dateTime (partial dates allowed) as the date it names; None if absent or
    invalid."""
    moment = parse_datetime(value, "UTC")
    return moment.date() if moment else None


def parse_datetime(value: Any, zone: str) -> datetime | None:
    """A FHIR date or dateTime as an aware datetime; None if absent or invalid. What names no
    zone (a date, a month, a year, or a time without its offset) is read on the clinic's clock,
    `zone`: a reading dated 15 October was taken that day at the clinic, not on the evening of
    the 14th, as midnight in UTC would put it in the Americas."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return span_of(value, zone)[0]
    except ValueError:
        return None


def last_day_of(value: Any) -> date | None:
    """The last day a year or a month ('1990', '2008-03') names; None for a full date, or
    what is not a date."""
    if not isinstance(value, str) or len(value.strip()) not in (4, 7):
        return None
    try:
        return span_of(value, "UTC")[1].date() - timedelta(days=1)
    except ValueError:
        return None


def effective(observation: dict[str, Any]) -> Any:
    """When an Observation was taken, as sent: its effective time, else when it was issued."""
    return (observation.get("effectiveDateTime")
            or (observation.get("effectivePeriod") or {}).get("start") or observation.get("issued"))


def _codings(concept: Any) -> tuple[Coding, ...]:
    if not isinstance(concept, dict):
        return ()
    return tuple(Coding(str(c.get("system", "")), str(c.get("code", "")), str(c.get("display", "")))
                 for c in concept.get("coding") or [] if isinstance(c, dict))


def _status(concept: Any) -> str | None:
    codings = _codings(concept)
    return codings[0].code if codings else None


def _ref(resource: dict[str, Any]) -> str:
    if resource.get("id"):
        return f"{resource['resourceType']}/{resource['id']}"
    return str(resource.get("_fullUrl") or resource["resourceType"])


def condition_fact(r: dict[str, Any]) -> ConditionFact:
    """A Condition resource as a screening fact."""
    code = r.get("code") or {}
    return ConditionFact(
        ref=_ref(r), codings=_codings(code), text=str(code.get("text") or ""),
        clinical_status=_status(r.get("clinicalStatus")),
        verification_status=_status(r.get("verificationStatus")),
        onset=parse_date(r.get("onsetDateTime") or (r.get("onsetPeriod") or {}).get("start")),
        abatement=parse_date(r.get("abatementDateTime")
                             or (r.get("abatementPeriod") or {}).get("end")),
        recorded=parse_date(r.get("recordedDate")),
    )


def condition_category_of(resource: dict[str, Any]) -> str | None:
    """The first category of a Condition resource that the clinic keeps (None if none is)."""
    concepts = resource.get("category")
    for concept in concepts if isinstance(concepts, list) else []:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        for coding in codings if isinstance(codings, list) else []:
            if not isinstance(coding, dict):
                continue
            known = CONDITION_CATEGORIES.get(str(coding.get("code")))
            if known is not None and coding.get("system") == known[0]:
                return str(coding["code"])
    return None


# HL7 v3 GTSAbbreviation codes (Timing.code) that the sig reader does not read as words.
_TIMING_CODES = {"AM": 1.0, "PM": 1.0, "BED": 1.0, "WK": 1 / 7, "MO": 1 / 30}
# Timing.repeat.when events that happen once a day (meal codes without a meal, 'C', 'AC',
# 'PC', are three a day or fewer: not counted).
_ONCE_A_DAY_EVENTS = frozenset({
    "MORN", "MORN.early", "MORN.late", "NOON", "AFT", "AFT.early", "AFT.late", "EVE",
    "EVE.early", "EVE.late", "NIGHT", "PHS", "HS", "WAKE", "ACM", "ACD", "ACV", "CM", "CD", "CV",
    "PCM", "PCD", "PCV"})


_DAYS_OF_WEEK = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dose_mg(dosage: dict[str, Any], product: str) -> tuple[float | None, bool]:
    """One dose in milligrams (a range's highest; a count of tablets times the product's
    strength), and whether its unit is already a day's."""
    for dose_and_rate in dosage.get("doseAndRate") or []:
        if not isinstance(dose_and_rate, dict):
            continue
        quantity = dose_and_rate.get("doseQuantity") or (
            dose_and_rate.get("doseRange") or {}).get("high") or {}
        value = quantity.get("value") if isinstance(quantity, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            milligrams, per_day_unit = dose_in_mg(float(value), unit_as_sent(quantity), product)
            if milligrams is not None:
                return milligrams, per_day_unit
    return None, False


def _doses_a_day(dosage: dict[str, Any]) -> float | None:
    """How often a dosage is taken, a day: from its Timing (a frequency per period, the
    most often a range allows; times of day; events of the day; a GTS code) or its text, on
    the days of the week its Timing names."""
    timing = _object(dosage.get("timing"))
    repeat = _object(timing.get("repeat"))
    per_day = times_per_day_from_timing(repeat.get("frequencyMax") or repeat.get("frequency"),
                                        repeat.get("period"), repeat.get("periodUnit"))
    if per_day is None and not repeat.get("periodUnit"):
        times = repeat.get("timeOfDay") or []
        events = repeat.get("when") or []
        if isinstance(times, list) and times:
            per_day = float(len(times))
        elif isinstance(events, list) and events and set(events) <= _ONCE_A_DAY_EVENTS:
            per_day = float(len(events))
    for coding in _codings(timing.get("code")) if per_day is None else ():
        per_day = _TIMING_CODES.get(coding.code) or times_per_day(coding.code)
        if per_day is not None:
            break
    texts = [t for t in (str(_object(timing.get("code")).get("text") or ""),
                         str(dosage.get("text") or "")) if t.strip()] if per_day is None else []
    text = ""
    for text in texts:  # the first that can be read, read once
        if (per_day := times_per_day(text)) is not None:
            break
    else:
        text = ""
    days = _days_of_week(repeat)
    if days is None or not _within_a_day(repeat) or days_a_week(text) is not None:
        return per_day  # a frequency per week counts its days; a text naming days read them
    if per_day is None and texts:
        return None  # a text that cannot be read ('as needed') is not once a day
    return (per_day or 1.0) * days / 7  # on the days named only; a day alone is one dose


def _days_of_week(repeat: dict[str, Any]) -> int | None:
    """How many days of the week a Timing.repeat names (its dayOfWeek: mon, tue, ...)."""
    days = repeat.get("dayOfWeek")
    named = {day for day in days if day in _DAYS_OF_WEEK} if isinstance(days, list) else set()
    return len(named) or None


def _within_a_day(repeat: dict[str, Any]) -> bool:
    """Whether a Timing.repeat's period, if it has one, is a day or less."""
    period, unit = repeat.get("period"), repeat.get("periodUnit")
    if not unit:
        return True
    in_days = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0}.get(str(unit))
    return (in_days is not None and isinstance(period, int | float)
            and float(period) * in_days <= 1)


def _one_daily_dose_mg(dosage: Any, product: str) -> float | None:
    if not isinstance(dosage, dict):
        return None
    if dosage.get("asNeededBoolean") is True or dosage.get("asNeededCodeableConcept"):
        return None  # taken as needed: how much a day is not known from the order
    dose, daily = _dose_mg(dosage, product)
    if dose is None or daily:
        return dose
    per_day = _doses_a_day(dosage)
    return None if per_day is None else dose * per_day


def _daily_dose_mg(dosages: list[Any], product: str = "") -> float | None:
    """The day's dose in milligrams: the dosages taken together (the first's sequence, or all
    when none has one: '1 mg in the morning' and '2 mg at night') summed; None when any of
    them cannot be read, or is taken as needed. `product` names the clinical drug, whose
    strength a dose counted in tablets is read by."""
    dosages = [d for d in dosages if isinstance(d, dict)]
    if not dosages:
        return None
    together = [d for d in dosages if d.get("sequence") == dosages[0].get("sequence")]
    doses = [_one_daily_dose_mg(d, product) for d in together]
    return None if any(d is None for d in doses) else sum(d for d in doses if d is not None)


def _medication(r: dict[str, Any], by_ref: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Medication resource a statement or request refers to (in the bundle or contained),
    or {} when it names its medication by a code."""
    reference = str(_object(r.get("medicationReference")).get("reference", ""))
    if not reference:
        return {}
    found = by_ref.get(reference) or next(
        (c for c in r.get("contained") or [] if isinstance(c, dict)
         and f"#{c.get('id')}" == reference), {})
    return found if isinstance(found, dict) else {}


def _medication_concept(r: dict[str, Any], by_ref: dict[str, dict[str, Any]]) -> dict[str, Any]:
    concept = r.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    return _object(_medication(r, by_ref).get("code"))


def _positive(value: Any) -> float | None:
    """A number above zero, or None."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value) if value > 0 else None


def _quantity_mg(quantity: dict[str, Any]) -> float | None:
    """A Quantity of mass in milligrams (None for any other unit)."""
    value = _positive(quantity.get("value"))
    per_unit = MILLIGRAMS_IN.get(str(quantity.get("code") or quantity.get("unit") or "").lower())
    return None if value is None or per_unit is None else value * per_unit


def _strength_name(medication: dict[str, Any]) -> str:
    """A single-ingredient Medication's strength (ingredient.strength, a Ratio such as 0.5 mg
    per 1 tablet, or 1 mg per 1 mL of an oral solution) as RxNorm writes it in a clinical
    drug's name ('0.5 MG Oral Tablet'), for a product whose code names the ingredient alone;
    '' when it gives none, or several ingredients share the product."""
    ingredients = [i for i in medication.get("ingredient") or [] if isinstance(i, dict)]
    if len(ingredients) != 1:
        return ""
    strength = _object(ingredients[0].get("strength"))
    milligrams = _quantity_mg(_object(strength.get("numerator")))
    denominator = _object(strength.get("denominator"))
    per = _positive(denominator.get("value", 1))
    unit = str(denominator.get("code") or denominator.get("unit") or "").lower()
    if milligrams is None or per is None:
        return ""
    form = _object(medication.get("form"))
    form_words = " ".join([str(form.get("text") or ""), *(c.display for c in _codings(form))])
    if unit in COUNT_UNITS:
        return f"{milligrams / per:g} MG Oral Tablet"
    if unit in VOLUME_UNITS and ORAL_LIQUID.search(form_words):
        return f"{milligrams / per:g} MG/ML Oral Solution"
    return ""


def _product_name(concept: dict[str, Any], medication: dict[str, Any]) -> str:
    """The name of the clinical drug that gives its strength: the concept's text or a coding's
    display (RxNorm's 'Lorazepam 0.5 MG Oral Tablet'), the first that gives one; else the
    strength its Medication resource gives."""
    names = [str(concept.get("text") or ""), *(c.display for c in _codings(concept))]
    return next((name for name in names if strength_mg(name) is not None
                 or concentration_mg_per_ml(name) is not None), "") or _strength_name(medication)


def medication_fact(r: dict[str, Any], by_ref: dict[str, dict[str, Any]]) -> MedicationFact:
    """A MedicationStatement or MedicationRequest as a screening fact."""
    concept = _medication_concept(r, by_ref)
    if r["resourceType"] == "MedicationStatement":
        period = r.get("effectivePeriod") or {}
        start = parse_date(period.get("start") or r.get("effectiveDateTime"))
        end = parse_date(period.get("end"))
        dosages = r.get("dosage") or []
        status = r.get("status")
    else:
        start = parse_date(r.get("authoredOn"))
        validity = (r.get("dispenseRequest") or {}).get("validityPeriod") or {}
        end = parse_date(validity.get("end"))
        dosages = r.get("dosageInstruction") or []
        status = REQUEST_STATUS.get(str(r.get("status")), r.get("status"))
    return MedicationFact(ref=_ref(r), codings=_codings(concept), text=str(concept.get("text") or ""),
                          status=status, start=start, end=end,
                          daily_dose_mg=_daily_dose_mg(dosages if isinstance(dosages, list) else [],
                                                       _product_name(concept, _medication(r, by_ref))))


def allergy_fact(r: dict[str, Any]) -> AllergyFact:
    """An AllergyIntolerance as a screening fact."""
    code = r.get("code") or {}
    kind, criticality = r.get("type"), r.get("criticality")
    return AllergyFact(ref=_ref(r), codings=_codings(code), text=str(code.get("text") or ""),
                       clinical_status=_status(r.get("clinicalStatus")),
                       verification_status=_status(r.get("verificationStatus")),
                       kind=kind if kind in ("allergy", "intolerance") else None,
                       criticality=criticality if isinstance(criticality, str) else None)


def _loinc_codes(concept: Any) -> set[str]:
    return {c.code for c in _codings(concept) if c.system == LOINC}


def pressure_components(observation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An Observation's systolic and diastolic components (LOINC 8480-6, 8462-4) by code: an
    Observation holding them is a pressure panel whatever its own code (85354-9, an older
    panel's such as 55284-4, or text alone)."""
    return {code: c for c in observation.get("component") or [] if isinstance(c, dict)
            for code in _loinc_codes(c.get("code")) & PRESSURE_FIELDS.keys()}


def _observations(items: list[dict[str, Any]], zone: str
                  ) -> tuple[list[BloodPressure], list[Weight]]:
    pressures: list[BloodPressure] = []
    weights: list[Weight] = []
    loose: dict[datetime, dict[str, float | None]] = {}
    for r in items:
        if r["resourceType"] != "Observation" or r.get("status") in NOT_A_READING:
            continue
        taken = parse_datetime(effective(r), zone)
        if taken is None:
            continue
        codes = _loinc_codes(r.get("code"))
        components = pressure_components(r)
        if BP_PANEL in codes or (SYSTOLIC in codes and DIASTOLIC in codes) or components:
            parts: dict[str, float | None] = {
                code: in_stored_unit(PRESSURE_FIELDS[code], c.get("valueQuantity"))[0]
                for code, c in components.items()}
            pressures.append(BloodPressure(_ref(r), taken, parts.get(SYSTOLIC), parts.get(DIASTOLIC)))
        elif SYSTOLIC in codes or DIASTOLIC in codes:
            side = SYSTOLIC if SYSTOLIC in codes else DIASTOLIC
            value, _ = in_stored_unit(PRESSURE_FIELDS[side], r.get("valueQuantity"))
            if value is not None:
                loose.setdefault(taken, {})[side] = value
        elif BODY_WEIGHT in codes:
            kg, _ = in_stored_unit("weight_kg", r.get("valueQuantity"))
            if kg is not None:
                weights.append(Weight(_ref(r), taken, kg))
    for taken, parts in loose.items():
        pressures.append(BloodPressure(f"Observation@{taken.isoformat()}", taken,
                                       parts.get(SYSTOLIC), parts.get(DIASTOLIC)))
    return pressures, weights


def status_observation_facts(items: list[dict[str, Any]], zone: str = "UTC"
                             ) -> list[ObservationFact]:
    """Observations that say whether the patient is pregnant or breastfeeding (undated times
    read in `zone`)."""
    facts = []
    for r in items:
        if r["resourceType"] != "Observation" or r.get("status") in NOT_A_READING:
            continue
        if not _loinc_codes(r.get("code")) & watched_codes():
            continue
        taken = parse_datetime(effective(r), zone)
        if taken is None:
            continue
        value = r.get("valueCodeableConcept") or {}
        boolean = r.get("valueBoolean")
        facts.append(ObservationFact(
            ref=_ref(r), taken=taken, codes=_codings(r.get("code")), value_codes=_codings(value),
            value_text=str(r.get("valueString") or value.get("text") or ""),
            value_boolean=boolean if isinstance(boolean, bool) else None))
    return facts


def record_from_bundle(bundle: dict[str, Any], zone: str = "UTC") -> PatientRecord:
    """The one patient's record from a bundle (BundleError if not exactly one Patient); times
    that name no zone are read in `zone`, the clinic's."""
    items = resources(bundle)
    patient = the_patient(items)
    by_ref = {_ref(r): r for r in items}
    by_ref.update({str(r["_fullUrl"]): r for r in items if r.get("_fullUrl")})
    pressures, weights = _observations(items, zone)
    deceased = bool(patient.get("deceasedBoolean")) or bool(patient.get("deceasedDateTime"))
    born = patient.get("birthDate")
    return PatientRecord(
        ref=_ref(patient),
        birth_date=parse_date(born),
        birth_date_latest=last_day_of(born),
        deceased=deceased,
        conditions=tuple(condition_fact(r) for r in items if r["resourceType"] == "Condition"),
        medications=tuple(medication_fact(r, by_ref) for r in items
                          if r["resourceType"] in ("MedicationStatement", "MedicationRequest")),
        allergies=tuple(allergy_fact(r) for r in items if r["resourceType"] == "AllergyIntolerance"),
        blood_pressures=tuple(pressures),
        weights=tuple(weights),
        observations=tuple(status_observation_facts(items, zone)),
    )


def last_observation_date(bundle: dict[str, Any]) -> date | None:
    """The date of the bundle's latest Observation (for screening a record as of its end)."""
    dates = [parse_date(r.get("effectiveDateTime") or r.get("issued"))
             for r in resources(bundle) if r["resourceType"] == "Observation"]
    known = [d for d in dates if d is not None]
    return max(known) if known else None
