"""Value sets: one clinical idea as codes from several systems, with a careful text fallback."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge import text_match
from ketaclinic.knowledge.codes import code_systems
from ketaclinic.knowledge.record import Coding
from ketaclinic.knowledge.tables import load_table

KNOWN_SYSTEMS = ("snomed", "icd10cm", "rxnorm", "loinc")


@dataclass(frozen=True)
class Match:
    """How an entry matched a value set, and whether its text says the condition is over."""

    how: str
    past: bool = False


@cache
def known_system_uris() -> frozenset[str]:
    """The systems whose codes decide a match on their own (protocol-facts.md §1)."""
    systems = code_systems()
    return frozenset(systems[short].uri for short in KNOWN_SYSTEMS)


@dataclass(frozen=True)
class ValueSet:
    """Codes by system (ICD-10-CM entries match their descendants), codes that are excluded
    although they fall under a listed one, and the names the text fallback looks for."""

    key: str
    title: str
    snomed: frozenset[str]
    icd10cm: tuple[str, ...]
    rxnorm: frozenset[str]
    names: tuple[str, ...]
    source: str
    icd10cm_not: tuple[str, ...] = ()
    not_names: tuple[str, ...] = ()

    def _code_match(self, coding: Coding) -> str | None:
        systems = code_systems()
        code = coding.code.strip()
        if coding.system == systems["snomed"].uri and code in self.snomed:
            return f"SNOMED CT {code}"
        if coding.system == systems["rxnorm"].uri and code in self.rxnorm:
            return f"RxNorm {code}"
        if coding.system == systems["icd10cm"].uri:
            upper = code.upper()
            if any(upper.startswith(p) for p in self.icd10cm) and not any(
                    upper.startswith(p) for p in self.icd10cm_not):
                return f"ICD-10-CM {code}"
        return None

    def match(self, codings: tuple[Coding, ...], text: str = "") -> Match | None:
        """Codes first; the text only for an entry with no code from a known system, read for
        negation, for someone else's condition, and for a past one."""
        coded = [c for c in codings if c.system in known_system_uris() and c.code.strip()]
        for coding in coded:
            how = self._code_match(coding)
            if how is not None:
                return Match(how)
        if coded:
            return None
        words = " ".join([text, *(c.display for c in codings)])
        mention = text_match.find(words, self.names, self.not_names)
        if mention is None:
            return None
        return Match(f"text names '{mention.name}' (no code from a known system)",
                     past=mention.tense == text_match.PAST)


@cache
def value_sets() -> dict[str, ValueSet]:
    """Every value set in value_sets.toml by key."""
    return {
        key: ValueSet(
            key=key,
            title=row["title"],
            snomed=frozenset(row.get("snomed", [])),
            icd10cm=tuple(c.upper() for c in row.get("icd10cm", [])),
            rxnorm=frozenset(row.get("rxnorm", [])),
            names=tuple(row.get("names", [])),
            source=row["source"],
            icd10cm_not=tuple(c.upper() for c in row.get("icd10cm_not", [])),
            not_names=tuple(row.get("not_names", [])),
        )
        for key, row in load_table("value_sets").items()
    }
