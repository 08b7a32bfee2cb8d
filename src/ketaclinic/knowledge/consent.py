"""The consent texts patients agree to (consent.toml): every version kept, one current."""

from dataclasses import dataclass
from functools import cache

from ketaclinic.knowledge.tables import load_table


@dataclass(frozen=True)
class ConsentText:
    """One version of the consent text."""

    version: str
    title: str
    text: str


def current_version() -> str:
    """The version new consents are given to."""
    return str(load_table("consent")["current"])


@cache
def versions() -> dict[str, ConsentText]:
    """Every version, old ones still readable."""
    return {name: ConsentText(name, str(row["title"]), str(row["text"]).strip())
            for name, row in load_table("consent")["versions"].items()}
