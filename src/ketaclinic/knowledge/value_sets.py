"""Value sets: one clinical idea as codes from several systems, with a name fallback."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.codes import code_systems
from ketaclinic.knowledge.record import Coding
from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class ValueSet:
    """Codes by system (ICD-10-CM entries match their descendants) and name fragments."""

    key: str
    title: str
    snomed: frozenset[str]
    icd10cm: tuple[str, ...]
    rxnorm: frozenset[str]
    names: tuple[str, ...]
    source: str

    def match(self, codings: tuple[Coding, ...], text: str = "") -> str | None:
        """How the codings or text match ('code ...' or 'name ...'), or None."""
        systems = code_systems()
        for coding in codings:
            if coding.system == systems["snomed"].uri and coding.code in self.snomed:
                return f"SNOMED CT {coding.code}"
            if coding.system == systems["rxnorm"].uri and coding.code in self.rxnorm:
                return f"RxNorm {coding.code}"
            if coding.system == systems["icd10cm"].uri and any(
                coding.code.upper().startswith(prefix) for prefix in self.icd10cm
            ):
                return f"ICD-10-CM {coding.code}"
        words = " ".join([text, *(c.display for c in codings)]).casefold()
        for name in self.names:
            if name in words:
                return f"name contains '{name}' (code not in the value set)"
        return None


@cache
def value_sets() -> dict[str, ValueSet]:
    """Every value set in value_sets.toml by key."""
    return {
        key: ValueSet(
            key=key,
            title=row["title"],
            snomed=frozenset(row.get("snomed", [])),
            icd10cm=tuple(row.get("icd10cm", [])),
            rxnorm=frozenset(row.get("rxnorm", [])),
            names=tuple(n.casefold() for n in row.get("names", [])),
            source=row["source"],
        )
        for key, row in load_table("value_sets").items()
    }
