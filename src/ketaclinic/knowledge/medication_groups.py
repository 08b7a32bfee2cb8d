"""Medication groups that interact with ketamine, and the diazepam-equivalent load."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.codes import code_systems
from ketaclinic.knowledge.record import MedicationFact
from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class Member:
    """One ingredient of a group: its name, RxNorm codes and diazepam factor if any."""

    name: str
    rxnorm: frozenset[str]
    diazepam_mg_per_mg: float | None


@dataclass(frozen=True)
class MedicationGroup:
    """An interacting group and its source."""

    key: str
    title: str
    members: tuple[Member, ...]
    source: str

    def member_of(self, medication: MedicationFact) -> tuple[Member, str] | None:
        """The group member this medication is, and how it matched; None if not in the group."""
        rxnorm_uri = code_systems()["rxnorm"].uri
        codes = {c.code for c in medication.codings if c.system == rxnorm_uri}
        for member in self.members:
            if codes & member.rxnorm:
                return member, f"RxNorm {sorted(codes & member.rxnorm)[0]}"
        words = " ".join([medication.text, *(c.display for c in medication.codings)]).casefold()
        for member in self.members:
            if member.name in words:
                return member, f"name contains '{member.name}' (code not in the table)"
        return None


@cache
def medication_groups() -> dict[str, MedicationGroup]:
    """Every group in medications.toml by key."""
    groups = {}
    for row in load_table("medications")["group"]:
        members = tuple(
            Member(m["name"], frozenset(m["rxnorm"]), m.get("diazepam_mg_per_mg"))
            for m in row["members"]
        )
        groups[row["key"]] = MedicationGroup(row["key"], row["title"], members, row["source"])
    return groups


def diazepam_equivalent_mg(medication: MedicationFact, member: Member) -> float | None:
    """The medication's daily dose as mg of diazepam, or None when its daily dose is unknown."""
    if medication.daily_dose_mg is None or member.diazepam_mg_per_mg is None:
        return None
    return medication.daily_dose_mg * member.diazepam_mg_per_mg
