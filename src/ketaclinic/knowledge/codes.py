"""Code systems and the coded concepts the clinic uses (from codes.md)."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class CodeSystem:
    """A terminology: short name, canonical URI and display name."""

    short: str
    uri: str
    name: str


@dataclass(frozen=True)
class Concept:
    """One coded concept: (system URI, code, display)."""

    system: str
    code: str
    display: str


@cache
def code_systems() -> dict[str, CodeSystem]:
    """Every known code system, keyed by short name."""
    rows = load_table("code_systems")["system"]
    return {r["short"]: CodeSystem(r["short"], r["uri"], r["name"]) for r in rows}


def accepted_systems(kind: str) -> list[CodeSystem]:
    """The code systems a kind of record (condition, medication, allergy) accepts."""
    shorts = load_table("code_systems")["accepts"][kind]
    return [code_systems()[s] for s in shorts]


def resolve_system(kind: str, value: str) -> CodeSystem | None:
    """The accepted system named by short name or URI, or None if not accepted."""
    wanted = value.strip()
    for system in accepted_systems(kind):
        if wanted in (system.short, system.uri):
            return system
    return None


@cache
def condition_concepts() -> list[Concept]:
    """Condition concepts as SNOMED codes, for pickers and generated records."""
    uri = code_systems()["snomed"].uri
    return [Concept(uri, r["snomed"], r["display"]) for r in load_table("codes")["condition"]]


@cache
def medication_concepts() -> list[Concept]:
    """Medication concepts as RxNorm codes, for pickers and generated records."""
    uri = code_systems()["rxnorm"].uri
    return [Concept(uri, r["rxnorm"], r["display"]) for r in load_table("codes")["medication"]]


def concept_by_key(kind: str, key: str) -> Concept:
    """The concept with this key in the codes table (kind: condition or medication)."""
    for row, concept in zip(
        load_table("codes")[kind],
        condition_concepts() if kind == "condition" else medication_concepts(),
        strict=True,
    ):
        if row["key"] == key:
            return concept
    raise KeyError(f"no {kind} with key {key!r} in codes.toml")


@cache
def icd10_for_snomed() -> dict[str, tuple[str, ...]]:
    """The ICD-10-CM codes each condition's SNOMED code maps to (billing's diagnoses)."""
    return {str(r["snomed"]): tuple(r["icd10cm"]) for r in load_table("codes")["condition"]}


@cache
def route_for_snomed() -> dict[str, str]:
    """The clinic's route for each SNOMED route code an order may carry (cds_routes.toml)."""
    return {str(code): str(route) for code, route in load_table("cds_routes")["snomed_route"].items()}


@cache
def known_codes() -> frozenset[tuple[str, str]]:
    """Every (system URI, code) pair in the codes table."""
    systems = code_systems()
    pairs: set[tuple[str, str]] = set()
    for row in load_table("codes")["condition"]:
        pairs.add((systems["snomed"].uri, row["snomed"]))
        pairs.update((systems["icd10cm"].uri, c) for c in row["icd10cm"])
    for row in load_table("codes")["medication"]:
        pairs.add((systems["rxnorm"].uri, row["rxnorm"]))
    return frozenset(pairs)


@cache
def reference_codes() -> frozenset[str]:
    """Every code on the reference list of standard codes (reference_codes.toml)."""
    return frozenset(code for section in load_table("reference_codes")["section"]
                     for code in section["codes"])
