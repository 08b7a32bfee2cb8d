"""What a person reads when input is refused: fields named by their labels ("Given name",
"Medicine 2", "Reading 1, systolic pressure (mmHg)"), and validation errors turned into plain
problems with no library internals (no "function-after[...]", no "Value error, ")."""

import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

# Field names whose label is not their words (units, abbreviations).
LABELS = {
    "systolic_mmhg": "systolic pressure (mmHg)", "diastolic_mmhg": "diastolic pressure (mmHg)",
    "heart_rate_bpm": "heart rate (beats/min)", "respiratory_rate_per_min": "breathing rate (/min)",
    "spo2_pct": "SpO₂ (%)", "temperature_c": "temperature (°C)", "weight_kg": "weight (kg)",
    "height_cm": "height (cm)", "dose_mg": "dose (mg)", "quantity_mg": "quantity (mg)",
    "delta_mg": "change (mg)", "amount_cents": "amount (cents)", "mrn": "MRN",
    "totp": "two-factor code", "totp_code": "two-factor code", "ndc": "NDC",
    "csrf_token": "form token",
    "evaluation_id": "course", "patient_id": "patient", "session_id": "session",
    "treatment_session_id": "treatment session",
    "container_id": "container", "location_id": "cabinet", "product_id": "product",
    "chair_id": "chair", "band_id": "sliding-scale band", "expected_pct": "expected share (%)",
    "discount_pct": "discount (%)", "income_up_to_cents": "household income up to (cents)",
}
_MACHINE_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INDEXED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]$")


_UNIT_SUFFIXES = {"_mg": "mg", "_kg": "kg", "_pct": "%", "_min": "min", "_cents": "cents",
                  "_ml": "mL"}


def _words(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    for suffix, unit in _UNIT_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{_words(name[:-len(suffix)])} ({unit})"
    return name.replace("_", " ").strip()


def label_of(field: str) -> str:
    """The field as a person names it: 'given_name' → 'Given name', 'medicine_2' → 'Medicine 2',
    'readings[0].systolic_mmhg' or 'readings.0.systolic_mmhg' → 'Readings 1, systolic pressure
    (mmHg)'."""
    parts: list[str] = []
    for part in field.split("."):
        indexed = _INDEXED.match(part)
        if indexed:
            parts += [_words(indexed.group(1)), str(int(indexed.group(2)) + 1)]
        elif part.isdigit():
            parts.append(str(int(part) + 1))
        elif part:
            parts.append(_words(part))
    text = ""
    for part in parts:  # a position joins the name before it: "answers 4", then ", " between
        text += (" " if part.isdigit() else ", ") + part if text else part
    return text[:1].upper() + text[1:] if text else "Form"


def _location(loc: Iterable[Any], dropped: set[str]) -> str:
    """The field a validation error is about, without the union and validator steps a library
    adds to the location ('function-after[...]', "literal['']", 'int')."""
    kept = [str(p) for p in loc if isinstance(p, int) or (
        isinstance(p, str) and p not in dropped and _MACHINE_PART.match(p)
        and p not in ("int", "str", "float", "bool", "list", "dict", "none"))]
    return ".".join(kept)


def _message(text: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def split_accepted(message: str) -> tuple[str, str]:
    """A validator's "what is wrong; write what is accepted" as its two parts (the second ''
    when the message does not say what is accepted)."""
    wrong, _, accepted = message.partition("; write ")
    return wrong, accepted


def validation_problems(errors: Sequence[Mapping[str, Any]], *, dropped: Iterable[str] = (),
                        whole: str = "form") -> list[tuple[str, str, str]]:
    """(field, message, accepted) for each invalid field, once per field (a union of types
    reports one error per member; the first says it), in the order given; `whole` names an
    error about the whole input."""
    skip = set(dropped)
    found: dict[str, tuple[str, str, str]] = {}
    for err in errors:
        field = _location(err.get("loc", ()), skip) or whole
        message = _message(str(err.get("msg", "")))
        accepted = str((err.get("ctx") or {}).get("expected", ""))
        if not accepted:
            message, accepted = split_accepted(message)
        found.setdefault(field, (field, message, accepted))
    return list(found.values())


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds (itself, or inside a list or an optional)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def known_fields(annotation: Any, path: Sequence[Any]) -> list[str]:
    """The fields an input accepts at `path` (names and list positions from its top, as a
    validation error's location gives them), in declaration order; [] if it is no model."""
    model = _model_in(annotation)
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def with_known_fields(errors: Sequence[Mapping[str, Any]], annotation: Any
                      ) -> list[Mapping[str, Any]]:
    """The errors, each about an unknown field of a request body saying which fields the body
    accepts there (pydantic names only the field it refused)."""
    named = []
    for err in errors:
        location = tuple(err.get("loc", ()))
        fields = known_fields(annotation, location[1:-1]) if (
            err.get("type") == "extra_forbidden" and location[:1] == ("body",)) else []
        if fields:
            err = {**err, "msg": "is not a field of this input",
                   "ctx": {"expected": "one of " + ", ".join(fields)}}
        named.append(err)
    return named
